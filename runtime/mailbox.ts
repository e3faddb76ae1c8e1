/**
 * A bounded FIFO of messages waiting for an actor (a ring buffer that grows up to its capacity).
 * An actor that is running and idle never uses it: messages go straight to the machine. Messages
 * wait here while the actor activates, restarts, stops, or is busy with an earlier message.
 */
export class Mailbox<T> {
  private buf: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<T | undefined>(Math.min(capacity, 8));
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Adds at the tail. The caller checks `full` first (overflow policy is the caller's). */
  push(item: T): void {
    if (this.count === this.buf.length) this.grow();
    this.buf[(this.head + this.count) % this.buf.length] = item;
    this.count++;
  }

  /** Removes the head, or undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return item;
  }

  /** Removes and returns everything, oldest first. */
  takeAll(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  private grow(): void {
    const next = new Array<T | undefined>(Math.min(this.capacity, Math.max(8, this.buf.length * 2)));
    for (let i = 0; i < this.count; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
    this.buf = next;
    this.head = 0;
  }
}
