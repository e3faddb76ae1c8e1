/**
 * Change listeners per collection and per key, for UIs that render one list or one record: a change
 * reaches only the listeners of its collection and of its key, in registration order.
 */
import type { ChangeEvent } from './types.js';

type Listener = (event: ChangeEvent) => void;

export class ChangeListeners {
  readonly #byCollection = new Map<string, Set<Listener>>();
  /** collection\0key -> listeners. */
  readonly #byKey = new Map<string, Set<Listener>>();

  onCollection(collection: string, listener: Listener): () => void {
    return add(this.#byCollection, collection, listener);
  }

  onKey(collection: string, key: string, listener: Listener): () => void {
    return add(this.#byKey, `${collection}\0${key}`, listener);
  }

  /** Runs the listeners of the event's collection, then of its key; a throw goes to `onThrow`, the others still run. */
  emit(event: ChangeEvent, onThrow: (err: unknown) => void): void {
    const collection = this.#byCollection.get(event.collection);
    const key = this.#byKey.get(`${event.collection}\0${event.key}`);
    for (const listener of [...(collection ?? []), ...(key ?? [])]) {
      try {
        listener(event);
      } catch (err) {
        onThrow(err);
      }
    }
  }

  clear(): void {
    this.#byCollection.clear();
    this.#byKey.clear();
  }
}

function add(map: Map<string, Set<Listener>>, id: string, listener: Listener): () => void {
  let set = map.get(id);
  if (!set) map.set(id, (set = new Set()));
  set.add(listener);
  return () => {
    const current = map.get(id);
    if (!current) return;
    current.delete(listener);
    if (current.size === 0) map.delete(id);
  };
}
