/**
 * Outbound batching. Every frame the node sends on a node or reply subject goes through here:
 * frames sent to the same subject within one turn of the event loop leave as ONE NATS message,
 * their MessagePack values written back to back (the receiver decodes them with `decodeMany`).
 *
 * Why: with many asks in flight the cost is per NATS message and per socket write, not per byte.
 * nats-server delivers a message only once it has all of it, so a batch also reaches the receiver
 * in one socket read and its answers go back in one batch, whatever the server's read buffer size
 * (separate small messages get split over reads and stay split). No latency is added: the batch
 * is published from a microtask, just before nats.js itself writes to the socket (also from a
 * microtask), so a lone frame leaves exactly when a direct publish would.
 *
 * Order: frames to one subject keep the order they were sent in, inside a batch and across
 * batches (one publish per subject per flush, in order).
 */
export type Publish = (subject: string, bytes: Uint8Array) => void;

/**
 * A batch is cut before it would grow past this many bytes (or the server's max_payload, when
 * smaller): big enough to carry hundreds of small frames, small enough to keep one NATS message
 * from holding up the connection. A frame bigger than that travels alone.
 */
export const MAX_BATCH_BYTES = 64 * 1024;

class Batch {
  frames: Uint8Array[] = [];
  bytes = 0;
}

export class Outbox {
  /** Subjects with frames waiting, in first-send order. Emptied on every flush. */
  private readonly batches = new Map<string, Batch>();
  /** Batch objects kept for reuse: the steady state allocates no batch per turn. */
  private spare: Batch[] = [];
  private scheduled = false;
  private readonly flushTask = (): void => this.flush();
  /** The batch size limit in bytes (the node lowers it to the server's max_payload if that is smaller). */
  maxBytes = MAX_BATCH_BYTES;

  constructor(private readonly publish: Publish) {}

  /** Queues `frame` for `subject`; it is published before the event loop turn ends. */
  send(subject: string, frame: Uint8Array): void {
    let b = this.batches.get(subject);
    if (b === undefined) {
      b = this.spare.pop() ?? new Batch();
      this.batches.set(subject, b);
    }
    if (b.bytes !== 0 && b.bytes + frame.length > this.maxBytes) this.publishBatch(subject, b);
    b.frames.push(frame);
    b.bytes += frame.length;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Publishes everything waiting (also called before the node drains its connection). */
  flush(): void {
    this.scheduled = false;
    if (this.batches.size === 0) return;
    for (const [subject, b] of this.batches) {
      this.publishBatch(subject, b);
      this.spare.push(b);
    }
    this.batches.clear();
    if (this.spare.length > 8) this.spare.length = 8;
  }

  private publishBatch(subject: string, b: Batch): void {
    const frames = b.frames;
    if (frames.length === 0) return;
    let bytes: Uint8Array;
    if (frames.length === 1) {
      bytes = frames[0]!;
    } else {
      bytes = new Uint8Array(b.bytes);
      let at = 0;
      for (const f of frames) {
        bytes.set(f, at);
        at += f.length;
      }
    }
    frames.length = 0;
    b.bytes = 0;
    this.publish(subject, bytes);
  }
}
