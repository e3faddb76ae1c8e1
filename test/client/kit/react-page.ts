/**
 * A page for the React binding test (test/client/react.test.ts), bundled with esbuild: a client that
 * never connects (its writes stay pending, which is all the hooks need) and two components, one list
 * (useCollection, usePendingWrites) and one record (useRecord) that counts its renders.
 */
import { createElement as h, type ReactElement } from 'react';
import { createRoot } from 'react-dom/client';
import { createSyncClient } from '../../../client/mod.js';
import { useCollection, usePendingWrites, useRecord } from '../../../client/react/mod.js';
import type { SyncClient } from '../../../client/mod.js';

const client = createSyncClient({ distributorUrl: 'http://127.0.0.1:9', userId: 'u', deviceId: 'd', token: 't', autoConnect: false });
const renders = { list: 0, recordA: 0 };

function Notes({ c }: { c: SyncClient }): ReactElement {
  renders.list++;
  const notes = useCollection(c, 'notes');
  const pending = usePendingWrites(c);
  return h('div', null,
    h('ul', { id: 'notes' }, ...notes.map(([key, r]) => h('li', { key }, (r.value as { title: string }).title))),
    h('span', { id: 'pending' }, String(pending)));
}

function NoteA({ c }: { c: SyncClient }): ReactElement {
  renders.recordA++;
  const a = useRecord(c, 'notes', 'a');
  return h('p', { id: 'note-a' }, a ? `${(a.value as { title: string }).title}${a.pending ? ' (pending)' : ''}` : 'none');
}

const root = createRoot(document.getElementById('root')!);
root.render(h('main', null, h(Notes, { c: client }), h(NoteA, { c: client })));

Object.assign(globalThis, { sm: { client, renders, unmount: () => root.unmount() } });
