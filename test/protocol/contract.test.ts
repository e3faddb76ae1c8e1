import { describe, expect, it } from 'vitest';
import { decode as stdDecode } from '@msgpack/msgpack';
import {
  CLIENT_FRAME_TYPES,
  CloseCode,
  ERROR_CODES,
  HTTP_ERROR_STATUS,
  RESYNC_FRAME_BYTES,
  drainFrame,
  errorFrame,
  fallbackFrame,
  isErrorCode,
  isReconnectCode,
  isTerminalCode,
  welcomeFrame,
} from '../../protocol/mod.js';
import { PUSH_SLOTS, PUSH_SLOT_HEX, SOCKET_ROLE, connectionId, pushSlot, pushSubjects, readSocketMeta, socketMeta } from '../../protocol/cluster/mod.js';
import { parseClientFrame } from '../../actors/session/mod.js';
import { SERVER_ERROR_CODES } from '../../client/mod.js';
import { StoreErrorCodes } from '../../actors/store/mod.js';

describe('protocol - the contract is written once', () => {
  it('protocol - every PROTOCOL.md error code is known, plus quota_exceeded; client and store use the same list', () => {
    for (const code of ['bad_frame', 'bad_request', 'forbidden', 'rate_limited', 'too_large', 'internal', 'quota_exceeded']) {
      expect(isErrorCode(code)).toBe(true);
    }
    expect(isErrorCode('nope')).toBe(false);
    expect(SERVER_ERROR_CODES).toBe(ERROR_CODES);
    for (const code of Object.values(StoreErrorCodes)) expect(ERROR_CODES).toContain(code);
  });

  it('protocol - HTTP codes map to the statuses of PROTOCOL.md section 2', () => {
    expect(HTTP_ERROR_STATUS.bad_request).toBe(400);
    expect(HTTP_ERROR_STATUS.unauthorized).toBe(401);
    expect(HTTP_ERROR_STATUS.forbidden).toBe(403);
    expect(HTTP_ERROR_STATUS.rate_limited).toBe(429);
    expect(HTTP_ERROR_STATUS.unavailable).toBe(503);
    expect(HTTP_ERROR_STATUS.too_large).toBe(413);
  });

  it('protocol - close codes fall in their documented ranges', () => {
    for (const code of [CloseCode.draining, CloseCode.slowConsumer, CloseCode.serverError, CloseCode.nodeClosed]) {
      expect(isReconnectCode(code)).toBe(true);
      expect(isTerminalCode(code)).toBe(false);
    }
    for (const code of [CloseCode.replaced, CloseCode.policy]) {
      expect(isTerminalCode(code)).toBe(true);
      expect(isReconnectCode(code)).toBe(false);
    }
    expect(isReconnectCode(1006)).toBe(true);
  });

  it('protocol - server frames are standard MessagePack maps another library reads', () => {
    expect(stdDecode(errorFrame('bad_request', 'why', 7))).toEqual({ t: 'error', id: 7, code: 'bad_request', message: 'why' });
    expect(stdDecode(errorFrame('bad_frame', 'no id'))).toEqual({ t: 'error', code: 'bad_frame', message: 'no id' });
    expect(stdDecode(welcomeFrame('c', 'n'))).toEqual({ t: 'welcome', connectionId: 'c', node: 'n' });
    expect(stdDecode(welcomeFrame('c', 'n', 'e1'))).toEqual({ t: 'welcome', connectionId: 'c', node: 'n', epoch: 'e1' });
    // expiresAt beyond 32 bits: a plain integer for another library (no BigInt, no extension).
    const offer = { node: 'n2', socket: { host: 'h', port: 9, url: 'ws://h:9/ws' }, ticket: 'tk', expiresAt: 1_796_000_000_000 };
    expect(stdDecode(welcomeFrame('c', 'n', 'e1', offer))).toEqual({ t: 'welcome', connectionId: 'c', node: 'n', epoch: 'e1', fallback: offer });
    expect(stdDecode(fallbackFrame(offer))).toEqual({ t: 'fallback', fallback: offer });
    expect(stdDecode(fallbackFrame(undefined))).toEqual({ t: 'fallback' });
    expect(stdDecode(drainFrame(250))).toEqual({ t: 'drain', retryAfterMs: 250 });
    expect(stdDecode(RESYNC_FRAME_BYTES)).toEqual({ t: 'resync' });
  });

  it('protocol - the session accepts every client frame type and an optional commit txid, and refuses a bad txid', () => {
    expect(CLIENT_FRAME_TYPES).toEqual(['commit', 'pull', 'send', 'ack']);
    const ok = parseClientFrame({ t: 'commit', id: 1, collection: 'c', changes: [{ key: 'k', value: 1 }], txid: 'tx-1' });
    expect(ok).toEqual({ ok: true, request: { t: 'commit', id: 1, collection: 'c', changes: [{ key: 'k', value: 1 }], txid: 'tx-1' } });
    const bad = parseClientFrame({ t: 'commit', id: 2, collection: 'c', changes: [], txid: 'x'.repeat(65) });
    expect(bad).toMatchObject({ ok: false, problem: { code: 'bad_request', id: 2 } });
    const wrongType = parseClientFrame({ t: 'commit', id: 3, collection: 'c', changes: [], txid: 42 });
    expect(wrongType).toMatchObject({ ok: false, problem: { code: 'bad_request', id: 3 } });
  });

  it('protocol - membership meta written by a socket node is read back by a distributor; bad meta is ignored', () => {
    expect(SOCKET_ROLE).toBe('socket');
    const meta = socketMeta({ host: 'ws1.example.com', port: 9001, url: 'wss://ws1.example.com/ws', capacity: 2 });
    expect(readSocketMeta(meta)).toEqual({ host: 'ws1.example.com', port: 9001, url: 'wss://ws1.example.com/ws', weight: 2 });
    expect(readSocketMeta({ ...meta, socketUrl: 'http://x' })).toBeUndefined();
    expect(readSocketMeta({ ...meta, socketPort: 70_000 })).toBeUndefined();
    expect(readSocketMeta({ ...meta, capacity: -1 })?.weight).toBe(1);
  });

  it('protocol - push subjects derive from the connection id alone', () => {
    const id = connectionId('ann', 'laptop');
    const [u, d] = id.split('-') as [string, string];
    expect(pushSlot(id)).toBe(d.slice(0, PUSH_SLOT_HEX));
    expect(pushSubjects.connection('sm', id)).toBe(`sm.push.${d.slice(0, 3)}.${u}.${d}`);
    expect(pushSubjects.device('sm', 'ann', 'laptop')).toBe(pushSubjects.connection('sm', id));
    expect(pushSubjects.slotInterest('sm', pushSlot(id))).toBe(`sm.push.${d.slice(0, 3)}.>`);
    expect(PUSH_SLOTS).toBe(4096);
  });
});

describe('protocol - the client depends on nothing of the server but protocol/', () => {
  it('protocol - client/ imports only client/, protocol/mod and npm packages', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const offenders: string[] = [];
    async function walk(dir: string): Promise<void> {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith('.ts') || entry.name.endsWith('.tsx')) {
          const text = await readFile(path, 'utf8');
          for (const m of text.matchAll(/from\s+'([^']+)'/g)) {
            const spec = m[1]!;
            if (!spec.startsWith('.')) continue;
            const target = join(dir, spec);
            if (target.startsWith('client/') || target === 'protocol/mod.js') continue;
            offenders.push(`${path}: ${spec}`);
          }
        }
      }
    }
    await walk('client');
    expect(offenders).toEqual([]);
  });
});
