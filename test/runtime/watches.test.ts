import { describe, expect, it } from 'vitest';
import { Watches } from '../../runtime/watches.js';
import type { ActorRef } from '../../runtime/mod.js';

const ref = (id: string, node?: string): ActorRef => (node === undefined ? { kind: 'w', id } : { kind: 'w', id, node });

describe('Watches (death watch bookkeeping)', () => {
  it('keeps one watcher of a target, replaces it when it watches again, and forgets it once taken', () => {
    const w = new Watches();
    w.add('session', 's1', ref('server', 'n1'), 'n1');
    w.add('session', 's1', ref('server', 'n1'), 'n2');
    expect(w.take('session', 's1')).toEqual([{ watcher: ref('server', 'n1'), tracker: 'n2' }]);
    expect(w.take('session', 's1')).toEqual([]);
  });

  it('tells watchers apart by kind, id and node, in the order they first watched', () => {
    const w = new Watches();
    const a = ref('a', 'n1');
    const aElsewhere = ref('a', 'n2');
    const aNoNode = ref('a');
    for (const r of [a, aElsewhere, aNoNode]) w.add('session', 's1', r, undefined);
    w.add('session', 's1', aElsewhere, 'n9'); // watched again: replaced in place
    w.add('session', 's2', a, undefined);
    w.add('store', 's1', a, undefined); // same id, another kind: another target
    expect(w.take('session', 's1')).toEqual([
      { watcher: a, tracker: undefined },
      { watcher: aElsewhere, tracker: 'n9' },
      { watcher: aNoNode, tracker: undefined },
    ]);
    expect(w.take('session', 's2')).toEqual([{ watcher: a, tracker: undefined }]);
    expect(w.take('store', 's1')).toEqual([{ watcher: a, tracker: undefined }]);
  });

  it('removes watchers one by one, from a few or from many', () => {
    const w = new Watches();
    const many = Array.from({ length: 20 }, (_, i) => ref(`w${i}`, 'n1'));
    for (const r of many) w.add('store', 'u1', r, 'n1');
    for (const r of many.slice(0, 19)) w.remove('store', 'u1', r);
    w.remove('store', 'u1', ref('unknown'));
    expect(w.take('store', 'u1')).toEqual([{ watcher: many[19], tracker: 'n1' }]);

    w.add('store', 'u2', ref('x'), undefined);
    w.add('store', 'u2', ref('y'), undefined);
    w.remove('store', 'u2', ref('x'));
    expect(w.take('store', 'u2')).toEqual([{ watcher: ref('y'), tracker: undefined }]);

    w.add('store', 'u3', ref('x'), undefined);
    w.remove('store', 'u3', ref('x'));
    w.remove('store', 'gone', ref('x'));
    expect(w.take('store', 'u3')).toEqual([]);
  });

  it('keeps many watchers of one target in the order they watched, each once', () => {
    const w = new Watches();
    const many = Array.from({ length: 30 }, (_, i) => ref(`w${i}`));
    for (const r of many) w.add('store', 'u1', r, undefined);
    for (const r of many) w.add('store', 'u1', r, 'again');
    expect(w.take('store', 'u1')).toEqual(many.map((r) => ({ watcher: r, tracker: 'again' })));
  });

  it('tracks watches by the node they depend on', () => {
    const w = new Watches();
    w.track('n2', ref('a'), { kind: 'store', id: 'u1', node: 'n2' });
    expect(w.tracking).toBe(true);
    expect(w.untrack(ref('a'), { kind: 'store', id: 'u1', node: 'n2' })).toBe('n2');
    w.track('n3', ref('b'), { kind: 'store', id: 'u2', node: 'n3' });
    expect(w.takeNode('n3')).toEqual([{ watcher: ref('b'), target: { kind: 'store', id: 'u2', node: 'n3' } }]);
    expect(w.tracking).toBe(false);
  });
});
