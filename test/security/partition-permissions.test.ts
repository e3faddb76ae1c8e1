/**
 * The permission matrix of a cluster with storage partitions (gateway/nats/permissions.ts): the storage
 * role reaches every partition's streams and subjects, the socket role only each partition's data
 * stream info (the storage epoch), and no other role may read a partition's records or commands. The
 * end-to-end check under a real nats-server with these permissions is test/e2e/partitions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { authorizationBlock, ownedStreams, permissionsFor } from '../../gateway/nats/mod.js';

describe('security - permissions with storage partitions', () => {
  it('security - storage gets each partition, socket the epochs, the others none of the data', () => {
    const storage = permissionsFor(['storage'], 'sm', 3);
    for (const p of [0, 1, 2]) {
      expect(storage.publish.allow).toEqual(expect.arrayContaining([`sm.rec-${p}.>`, `sm.idx-${p}.>`, `sm.dcmd-${p}.>`, `$JS.API.STREAM.CREATE.sm-records-${p}`, `$JS.API.DIRECT.GET.sm-index-${p}`, `$JS.API.STREAM.MSG.DELETE.sm-devcmds-${p}`]));
    }
    // It may look at the streams of other partition counts (to refuse starting beside them), not use them.
    expect(storage.publish.allow).toEqual(expect.arrayContaining(['$JS.API.STREAM.INFO.sm-index', '$JS.API.STREAM.INFO.sm-index-3']));
    expect(storage.publish.allow).not.toContain('sm.rec.>');
    expect(storage.publish.allow).not.toContain('$JS.API.DIRECT.GET.sm-index');

    const socket = permissionsFor(['socket'], 'sm', 3);
    expect(socket.publish.allow).toEqual(expect.arrayContaining(['$JS.API.STREAM.INFO.sm-index-0', '$JS.API.STREAM.INFO.sm-index-2']));
    expect(socket.subscribe.allow).toContain('$JS.EVENT.ADVISORY.STREAM.CREATED.sm-index-1');
    expect(socket.publish.allow.some((s) => s.startsWith('sm.rec') || s.includes('sm-records'))).toBe(false);
    for (const role of ['socket', 'push', 'gateway'] as const) {
      expect(permissionsFor([role], 'sm', 3).subscribe.deny).toEqual(expect.arrayContaining(['sm.rec-1.>', 'sm.idx-2.>', 'sm.dcmd-0.>']));
    }

    expect(ownedStreams('sm', 3).filter((s) => s.owners.includes('storage') && !s.stream.startsWith('KV_'))).toHaveLength(9);
    // One partition: the names of the unpartitioned storage, as before.
    expect(permissionsFor(['storage']).publish.allow).toEqual(expect.arrayContaining(['sm.rec.>', '$JS.API.DIRECT.GET.sm-index', '$JS.API.STREAM.INFO.sm-index-0']));
    expect(authorizationBlock([{ roles: ['storage'], nkey: 'UKEY' }], 'sm', undefined, 2)).toContain('"sm.idx-1.>"');
  });
});
