/**
 * A small typed event emitter that runs in browsers and Node alike (no node:events).
 * Listeners run synchronously in registration order; one that throws does not stop the others:
 * the throw is handed to `onListenerError`.
 */
export type Listener<T> = (event: T) => void;

export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  readonly #onListenerError: (event: keyof Events, err: unknown) => void;

  constructor(onListenerError: (event: keyof Events, err: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Adds a listener that runs once. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(type)?.delete(listener as Listener<never>);
  }

  listenerCount<K extends keyof Events>(type: K): number {
    return this.#listeners.get(type)?.size ?? 0;
  }

  emit<K extends keyof Events>(type: K, event: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    // A copy, so a listener that removes itself (once) does not disturb the loop.
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(event);
      } catch (err) {
        this.#onListenerError(type, err);
      }
    }
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}
