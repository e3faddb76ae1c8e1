/**
 * React binding of the Syncmesh client (`syncmesh/client/react`): hooks that re-render a component
 * when the records it shows change. Its own entry point, so the core client bundles no React; react
 * (18 or 19) is an optional peer dependency.
 *
 *   const notes = useCollection(client, 'notes');        // [key, record][], pending writes applied
 *   const note = useRecord(client, 'notes', id);           // one record or undefined
 *   const pending = usePendingWrites(client);              // writes not yet acknowledged by the server
 *   const status = useConnectionStatus(client);            // 'connecting' | 'connected' | ...
 *
 * Built on useSyncExternalStore: a snapshot is computed once per change of its collection or key and
 * is the same object between changes, so components render only when their data changed.
 */
import { useMemo, useSyncExternalStore } from 'react';
import type { CachedRecord, ConnectionStatus, SyncClient } from '../mod.js';

/** A list snapshot: live records of a collection, in the order of SyncClient.entries(). */
export type CollectionSnapshot = ReadonlyArray<readonly [key: string, record: CachedRecord]>;

interface Store<T> {
  subscribe(notify: () => void): () => void;
  getSnapshot(): T;
}

/**
 * A snapshot cached until the source says it changed. Subscribing drops the cached one too: a change
 * made between render and subscription is then not missed (useSyncExternalStore reads it again).
 */
function cachedStore<T>(read: () => T, listen: (changed: () => void) => () => void): Store<T> {
  let snapshot: { value: T } | undefined;
  return {
    subscribe(notify) {
      snapshot = undefined;
      return listen(() => {
        snapshot = undefined;
        notify();
      });
    },
    getSnapshot() {
      snapshot ??= { value: read() };
      return snapshot.value;
    },
  };
}

/** The live records of `collection` (pending local writes included); re-renders on each change of it. */
export function useCollection(client: SyncClient, collection: string): CollectionSnapshot {
  const store = useMemo(
    () => cachedStore<CollectionSnapshot>(() => client.entries(collection), (changed) => client.onCollection(collection, changed)),
    [client, collection],
  );
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The record of `key` (undefined when absent or deleted); re-renders when that key changes. */
export function useRecord(client: SyncClient, collection: string, key: string): CachedRecord | undefined {
  const store = useMemo(
    () => cachedStore(() => client.get(collection, key), (changed) => client.onKey(collection, key, changed)),
    [client, collection, key],
  );
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The number of local writes the server has not acknowledged yet. */
export function usePendingWrites(client: SyncClient): number {
  const store = useMemo(() => ({
    subscribe: (notify: () => void) => client.on('pending', notify),
    getSnapshot: () => client.pendingWrites,
  }), [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The client's connection status. */
export function useConnectionStatus(client: SyncClient): ConnectionStatus {
  const store = useMemo(() => ({
    subscribe: (notify: () => void) => client.on('status', notify),
    getSnapshot: () => client.status,
  }), [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
