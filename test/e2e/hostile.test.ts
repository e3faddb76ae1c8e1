/**
 * R4, hostile input end to end: one local cluster (`npm start`'s program: nats-server, gateway, storage +
 * push, two socket nodes, each its own OS process), attacked through its public surface only: HTTP to the
 * distributor and WebSockets to the socket nodes. Every answer must be a clear error or refusal, nothing
 * may cross from one user to another, and afterwards every process is still the one that started (same
 * pid), /healthz is ok and a normal device still commits and syncs.
 *
 * "No frame arrived" is proven by a request/answer round trip after the event, then a look at what came.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionId, deviceKey, userKey } from '../../protocol/cluster/mod.js';
import { nameToken, storeUserKey } from '../../actors/store/layout.js';
import { signTicket } from '../../gateway/ticket.js';
import { localCluster, type LocalCluster } from '../kit/cluster.js';
import { connectRequest, devToken, Device, type Frame } from '../kit/device.js';
import { hostileFrame, oversized, seededRng, type HostileFrame } from '../kit/hostile-frames.js';
import { Pacer } from '../kit/pacer.js';
import { rawHttp } from '../kit/raw-http.js';
import { tryUpgrade, type UpgradeOutcome } from '../kit/upgrade.js';
import { until } from '../kit/wait.js';

const SEED = 0x5eed_4;
const FLOOD_CONNECTIONS = 8;
const FRAMES_PER_CONNECTION = 380;

let cluster: LocalCluster;
let secrets: { ticketSecret: string; jwtSecret: string };
const open: Device[] = [];

async function device(userId: string, deviceId: string): Promise<Device> {
  const d = await Device.open(cluster.url, userId, deviceId);
  open.push(d);
  return d;
}

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x));
const answerKey = (code: unknown, id: unknown): string => `${String(code)}|${id === undefined ? '-' : String(id)}`;

/** A clear error: a protocol code and a message meant for a person, never a stack trace. */
function expectClearMessage(message: unknown): void {
  expect(typeof message).toBe('string');
  expect((message as string).length).toBeGreaterThan(0);
  expect(message as string).not.toMatch(/\n\s+at |node_modules|\/work\//);
}

/** A device of `userId` whose connection lands on another socket node than `other`. */
async function deviceOnOtherNode(userId: string, other: Device): Promise<Device> {
  const token = await devToken(cluster.url, userId);
  for (let i = 0; i < 16; i++) {
    const ans = await connectRequest(cluster.url, token, userId, `dev-${i}`);
    if (ans.socket.url !== other.answer.socket.url) {
      const d = await Device.openWith(ans);
      open.push(d);
      return d;
    }
  }
  throw new Error('every device id landed on one socket node: allocation does not spread');
}

beforeAll(async () => {
  cluster = await localCluster({ socketNodes: 2 });
  secrets = JSON.parse(await readFile(join(cluster.dataDir, 'secrets.json'), 'utf8')) as typeof secrets;
}, 90_000);

afterAll(async () => {
  for (const d of open) d.close();
  await cluster?.[Symbol.asyncDispose]();
}, 60_000);

describe('hostile input - the whole cluster through its public surface', () => {
  it('hostile frames - thousands of malformed frames on several connections each get one error frame with the right code and id; the connections stay usable', async () => {
    const devices = await Promise.all(Array.from({ length: FLOOD_CONNECTIONS }, (_, i) => device(`flood-${i}`, 'desk')));
    expect(new Set(devices.map((d) => d.answer.socket.url)).size).toBe(2);
    const rng = seededRng(SEED);
    let nextId = 1_000_000;
    const plans: HostileFrame[][] = devices.map(() => [oversized(nextId++), ...Array.from({ length: FRAMES_PER_CONNECTION }, () => hostileFrame(rng, nextId++))]);

    // Under the server's rate limit (100/s, burst 200), so every frame is answered for what it is: at
    // most 90/s with a burst of 150, and at most WINDOW frames unanswered. The server reads a
    // connection's frames in order, so even when it stalls, frames it has not read yet are at most
    // WINDOW + the pacer's burst (under 200) when it catches up.
    const WINDOW = 40;
    const answered = (d: Device): number => d.frames.length - 1; // all but `welcome` answer a hostile frame
    await Promise.all(
      devices.map(async (d, i) => {
        const pacer = new Pacer(90, 150);
        for (const [k, f] of plans[i]!.entries()) {
          await until(() => answered(d) > k - WINDOW || d.closed !== undefined, `answers on connection ${i} to keep at most ${WINDOW} frames unanswered`);
          await pacer.take();
          d.ws.send(f.data, { binary: typeof f.data !== 'string' });
        }
      }),
    );
    const errorsOf = (d: Device): Frame[] => d.frames.filter((f) => f.t === 'error');
    await until(
      () => devices.every((d, i) => errorsOf(d).length >= plans[i]!.length || d.closed !== undefined),
      'an error frame for every hostile frame',
      30_000,
      () => devices.map((d, i) => `${errorsOf(d).length}/${plans[i]!.length}${d.closed ? ` closed ${d.closed.code}` : ''}`).join(' '),
    );
    // A round trip on each connection: it is still usable, and nothing more was on its way.
    for (const d of devices) expect(await d.request({ t: 'pull', collection: 'after-flood', since: 0 })).toMatchObject({ t: 'changes', changes: [], more: false });

    let total = 0;
    for (const [i, d] of devices.entries()) {
      expect(d.closed).toBeUndefined();
      const plan = plans[i]!;
      total += plan.length;
      const want = new Map<string, string[]>();
      for (const f of plan) {
        const k = answerKey(f.code, f.id);
        want.set(k, [...(want.get(k) ?? []), f.kind]);
      }
      const unexpected: string[] = [];
      for (const e of errorsOf(d)) {
        expectClearMessage(e['message']);
        const kinds = want.get(answerKey(e['code'], e['id']));
        if (kinds === undefined || kinds.length === 0) unexpected.push(show(e));
        else kinds.pop();
      }
      const missing = [...want].flatMap(([k, kinds]) => kinds.map((kind) => `${kind} -> ${k}`));
      expect({ connection: i, unexpected, missing }).toEqual({ connection: i, unexpected: [], missing: [] });
      // Nothing but errors answered the hostile frames: no write, no read slipped through.
      expect(d.frames.filter((f) => !['welcome', 'error', 'changes'].includes(f.t))).toEqual([]);
      expect(d.frames.filter((f) => f.t === 'changes')).toHaveLength(1);
    }
    expect(total).toBeGreaterThan(3_000);
  });

  it('hostile frames - a frame over twice the limit closes only its own connection; a flood past the rate limit gets rate_limited, then close 4101', async () => {
    const big = await device('abuse', 'huge-frame');
    big.ws.send(new Uint8Array(2 * 1024 * 1024 + 1));
    // Documented: 1006 (the server cuts the connection; protocol.md 3.5) or the standard 1009 "too big".
    expect([1006, 1009]).toContain((await big.closedWith(15_000)).code);

    const flooder = await device('abuse', 'flooder');
    const witness = await device('abuse', 'witness');
    for (let i = 0; i < 1_200; i++) flooder.ws.send(`not a frame ${i}`);
    expect((await flooder.closedWith(15_000)).code).toBe(4101);
    const errors = flooder.frames.filter((f) => f.t === 'error');
    expect(errors.filter((f) => f['code'] === 'rate_limited').length).toBeGreaterThan(0);
    expect(errors.filter((f) => f['code'] !== 'rate_limited' && f['code'] !== 'bad_frame')).toEqual([]);
    for (const e of errors) expectClearMessage(e['message']);
    // The same user's other connection is untouched.
    expect(await witness.request({ t: 'pull', collection: 'c', since: 0 })).toMatchObject({ t: 'changes' });
  });

  it('tickets - missing, garbage, forged, tampered, expired, mismatched, foreign and replayed tickets get HTTP 401 at the upgrade and no WebSocket', async () => {
    const token = await devToken(cluster.url, 'ticket-user');
    const ans = await connectRequest(cluster.url, token, 'ticket-user', 'laptop');
    const otherNode = cluster.state.processes.find((p) => p.socket !== undefined && p.socket !== ans.socket.url)?.socket;
    expect(otherNode).toBeDefined();
    const [body] = ans.ticket.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { cid: string; uid: string; did: string; node: string; exp: number; jti: string };
    const withTicket = (url: string, ticket: string): string => `${url}?ticket=${encodeURIComponent(ticket)}`;
    const tamperedBody = Buffer.from(JSON.stringify({ ...claims, uid: 'victim' })).toString('base64url');
    const refusals: [string, string, string][] = [
      ['missing', ans.socket.url, 'missing'],
      ['empty', `${ans.socket.url}?ticket=`, 'missing'],
      ['garbage', withTicket(ans.socket.url, 'garbage'), 'malformed'],
      ['three parts', withTicket(ans.socket.url, 'a.b.c'), 'malformed'],
      ['over-long', withTicket(ans.socket.url, `${'x'.repeat(3_000)}.y`), 'malformed'],
      ['signed with another secret', withTicket(ans.socket.url, signTicket('not-the-cluster-secret', { ...claims, jti: undefined })), 'forged'],
      ['tampered claims, original signature', withTicket(ans.socket.url, `${tamperedBody}.${ans.ticket.split('.')[1]}`), 'forged'],
      ['expired', withTicket(ans.socket.url, signTicket(secrets.ticketSecret, { ...claims, exp: Date.now() - 1_000, jti: undefined })), 'expired'],
      ['connection id of another user', withTicket(ans.socket.url, signTicket(secrets.ticketSecret, { ...claims, uid: 'victim', jti: undefined })), 'malformed'],
      ['foreign: issued for the other socket node', withTicket(otherNode!, ans.ticket), 'foreign'],
    ];
    const check = (what: string, outcome: UpgradeOutcome, problem: string): void => {
      expect({ what, outcome: { ...outcome, body: undefined } }).toEqual({ what, outcome: { opened: false, status: 401, body: undefined } });
      const parsed = JSON.parse((outcome as { body: string }).body) as { error: { code: string; problem: string; message: string } };
      expect({ what, code: parsed.error.code, problem: parsed.error.problem }).toEqual({ what, code: 'unauthorized', problem });
      expectClearMessage(parsed.error.message);
    };
    for (const [what, url, problem] of refusals) check(what, await tryUpgrade(url), problem);
    // The real ticket still works once (refusals did not use it up), then never again.
    expect(await tryUpgrade(withTicket(ans.socket.url, ans.ticket))).toEqual({ opened: true });
    check('replayed', await tryUpgrade(withTicket(ans.socket.url, ans.ticket)), 'replayed');
  });

  it('distributor - malformed, oversized, mistyped, unauthenticated, forged, expired and cross-user requests get the documented status and JSON error', async () => {
    const url = cluster.url;
    const tokenA = await devToken(url, 'dist-a');
    const key = new TextEncoder().encode(secrets.jwtSecret);
    const now = Math.floor(Date.now() / 1000);
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('dist-a').setExpirationTime(now + 3600).sign(new TextEncoder().encode('x'.repeat(40)));
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('dist-a').setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(key);
    const noSubject = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 3600).sign(key);
    const noExpiry = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('dist-a').sign(key);
    const year2100 = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('dist-a').setExpirationTime(Date.UTC(2100, 0, 1) / 1000).sign(key);
    const fakeDev = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('dist-a').setIssuer('syncmesh-dev').setExpirationTime(now + 3600).sign(key);
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'dist-a', exp: now + 3600 })}.`;
    const good = JSON.stringify({ userId: 'dist-a', deviceId: 'laptop' });

    type Case = [what: string, method: string, path: string, body: BodyInit | undefined, auth: string | undefined, status: number, code: string];
    const cases: Case[] = [
      ['malformed JSON', 'POST', '/v1/connect', '{"userId":', tokenA, 400, 'bad_request'],
      ['array body', 'POST', '/v1/connect', '[]', tokenA, 400, 'bad_request'],
      ['string body', 'POST', '/v1/connect', '"dist-a"', tokenA, 400, 'bad_request'],
      ['null body', 'POST', '/v1/connect', 'null', tokenA, 400, 'bad_request'],
      ['empty body', 'POST', '/v1/connect', '', tokenA, 400, 'bad_request'],
      ['userId a number', 'POST', '/v1/connect', JSON.stringify({ userId: 5, deviceId: 'x' }), tokenA, 400, 'bad_request'],
      ['deviceId missing', 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-a' }), tokenA, 400, 'bad_request'],
      ['deviceId empty', 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-a', deviceId: '' }), tokenA, 400, 'bad_request'],
      ['deviceId a map', 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-a', deviceId: {} }), tokenA, 400, 'bad_request'],
      ['deviceId over 128 characters', 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-a', deviceId: 'd'.repeat(129) }), tokenA, 400, 'bad_request'],
      ['body over 16 KB', 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-a', deviceId: 'x', pad: 'p'.repeat(100_000) }), tokenA, 413, 'too_large'],
      ['body of 3 MiB', 'POST', '/v1/connect', 'p'.repeat(3 * 1024 * 1024), tokenA, 413, 'too_large'],
      ['no Authorization', 'POST', '/v1/connect', good, undefined, 401, 'unauthorized'],
      ['Basic instead of Bearer', 'POST', '/v1/connect', good, 'Basic ZGlzdC1hOng=', 401, 'unauthorized'],
      ['garbage token', 'POST', '/v1/connect', good, 'Bearer garbage', 401, 'unauthorized'],
      ['token signed with another secret', 'POST', '/v1/connect', good, `Bearer ${forged}`, 401, 'unauthorized'],
      ['expired token', 'POST', '/v1/connect', good, `Bearer ${expired}`, 401, 'unauthorized'],
      ['alg none', 'POST', '/v1/connect', good, `Bearer ${algNone}`, 401, 'unauthorized'],
      ['token without subject', 'POST', '/v1/connect', good, `Bearer ${noSubject}`, 401, 'unauthorized'],
      ['token without exp', 'POST', '/v1/connect', good, `Bearer ${noExpiry}`, 401, 'unauthorized'],
      ['token valid until 2100', 'POST', '/v1/connect', good, `Bearer ${year2100}`, 401, 'unauthorized'],
      ['dev issuer, signed with the user-token secret', 'POST', '/v1/connect', good, `Bearer ${fakeDev}`, 401, 'unauthorized'],
      ['long garbage token', 'POST', '/v1/connect', good, `Bearer ${'t'.repeat(3_000)}`, 401, 'unauthorized'],
      ["user A's token asking for user B", 'POST', '/v1/connect', JSON.stringify({ userId: 'dist-b', deviceId: 'laptop' }), tokenA, 403, 'forbidden'],
      ['dev token, malformed JSON', 'POST', '/v1/dev/token', '{', undefined, 400, 'bad_request'],
      ['dev token, no userId', 'POST', '/v1/dev/token', '{}', undefined, 400, 'bad_request'],
      ['dev token, userId over 128 characters', 'POST', '/v1/dev/token', JSON.stringify({ userId: 'u'.repeat(129) }), undefined, 400, 'bad_request'],
      ['GET connect', 'GET', '/v1/connect', undefined, tokenA, 405, 'method_not_allowed'],
      ['PUT dev token', 'PUT', '/v1/dev/token', '{}', undefined, 405, 'method_not_allowed'],
      ['DELETE healthz', 'DELETE', '/healthz', undefined, undefined, 405, 'method_not_allowed'],
      ['unknown /v1 path', 'GET', '/v1/users', undefined, tokenA, 404, 'not_found'],
      ['POST to a file', 'POST', '/index.html', '{}', undefined, 404, 'not_found'],
      ['no such file', 'GET', '/no-such-file.js', undefined, undefined, 404, 'not_found'],
      ['encoded path traversal', 'GET', '/%2e%2e/%2e%2e/etc/passwd', undefined, undefined, 404, 'not_found'],
    ];
    for (const [what, method, path, body, auth, status, code] of cases) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (auth !== undefined) headers['authorization'] = auth.startsWith('Bearer ') || auth.startsWith('Basic ') ? auth : `Bearer ${auth}`;
      const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined && { body }) });
      const text = await res.text();
      expect({ what, status: res.status, type: res.headers.get('content-type') }).toEqual({ what, status, type: 'application/json' });
      const parsed = JSON.parse(text) as { error: { code: string; message: string } };
      expect({ what, code: parsed.error.code }).toEqual({ what, code });
      expectClearMessage(parsed.error.message);
      if (status === 405) expect(res.headers.get('allow')).toMatch(/^(GET|POST)$/);
    }

    // Headers over uWebSockets.js's limit (4 KB) are refused by the HTTP layer itself: 431, no body of ours.
    const hugeHeader = await fetch(`${url}/v1/connect`, { method: 'POST', headers: { authorization: `Bearer ${'t'.repeat(5_000)}` }, body: good });
    await hugeHeader.text();
    expect(hugeHeader.status).toBe(431);

    // A chunked body (no declared length) is capped while it is read: 413 once it has all arrived.
    const chunked = `1000\r\n${' '.repeat(4096)}\r\n`.repeat(10) + '0\r\n\r\n';
    const streamed = await rawHttp(url, `POST /v1/connect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokenA}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`);
    expect(streamed.status).toBe(413);
    expect((JSON.parse(streamed.body) as { error: { code: string } }).error.code).toBe('too_large');

    // Over 20 connects a second for one user: 429 with Retry-After; other users are not affected.
    // 150 at once: more than the burst of 20 plus what refills while a loaded machine sends them.
    const tokenR = await devToken(url, 'dist-rate');
    const burst = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        fetch(`${url}/v1/connect`, { method: 'POST', headers: { authorization: `Bearer ${tokenR}` }, body: JSON.stringify({ userId: 'dist-rate', deviceId: `d${i}` }) }),
      ),
    );
    const bodies = await Promise.all(burst.map((r) => r.text()));
    expect(burst.map((r) => r.status).filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const limited = burst.flatMap((r, i) => (r.status === 429 ? [{ retryAfter: r.headers.get('retry-after'), body: JSON.parse(bodies[i]!) as { error: { code: string } } }] : []));
    expect(limited.length).toBeGreaterThan(0);
    for (const l of limited) expect(l).toMatchObject({ retryAfter: expect.stringMatching(/^[1-9][0-9]*$/) as unknown, body: { error: { code: 'rate_limited' } } });
    // After all that, the distributor still allocates.
    expect((await connectRequest(url, tokenA, 'dist-a', 'laptop')).connectionId).toBe(connectionId('dist-a', 'laptop'));
  });

  it("cross-user - names crafted to look like another user's subjects never read, change or push that user's data, and sends never reach the user's devices", async () => {
    const victim = 'victim';
    const uk = userKey(victim);
    const dk = deviceKey(victim, 'laptop');
    const cid = connectionId(victim, 'laptop');
    const sk = storeUserKey(victim);
    const v1 = await device(victim, 'laptop');
    const v2 = await deviceOnOtherNode(victim, v1);
    const mine = await v1.request({ t: 'commit', collection: 'notes', changes: [{ key: 'k', value: 'victim-secret' }, { key: '*', value: 'victim-star' }] });
    expect(mine).toMatchObject({ t: 'committed', conflicts: [] });
    await v2.next((f) => f.t === 'sync' && f['collection'] === 'notes');
    // The victim's tablet connected once (commands go only to known devices); both devices hear its commit.
    const vt = await device(victim, 'tablet');
    expect(await vt.request({ t: 'commit', collection: 'hello', changes: [{ key: 'tablet', value: 1 }] })).toMatchObject({ t: 'committed' });
    vt.close();
    await v1.next((f) => f.t === 'sync' && f['collection'] === 'hello');
    await v2.next((f) => f.t === 'sync' && f['collection'] === 'hello');
    const sent = await v1.request({ t: 'send', toDevice: 'tablet', body: 'victim-command' });
    const commandId = sent['commandId'] as string;
    expect(typeof commandId).toBe('string');
    const seenBy = new Map([[v1, v1.frames.length], [v2, v2.frames.length]]);

    const collections = [
      'notes', '*', '>', '.', '..', 'notes.*', 'notes.>', '../victim/notes', `sm.push.${uk}.all`, `sm.push.${uk}.>`, `sm.push.${uk}.${dk}`,
      `sm.data.${sk}.${nameToken('notes')}.>`, nameToken('notes'), uk, cid, 'notes\u0000', '\u202enotes', '📓'.repeat(32), 'ü'.repeat(64), 'x'.repeat(128),
    ];
    const keys = ['k', '*', '>', '..', 'k.>', nameToken('k'), `${uk}.k`, 'k'.repeat(512), '🔑', 'k\u0000'];
    const targets = ['laptop', 'tablet', 'phone', cid, dk, uk, '*', '>', `sm.push.${uk}.${dk}`, `sm.push.${uk}.all`, '../victim/tablet', 'tablet\u0000', 't'.repeat(128)];
    const attackers = ['mallory', `${victim}.>`, `${victim}*`, `${victim}\u0000laptop`, 'Victim', `${victim} `, uk];

    await Promise.all(
      attackers.map(async (attacker) => {
        const a1 = await device(attacker, 'laptop');
        const a2 = await device(attacker, 'tablet');
        // Both attacker devices are known devices of the attacker (a commit registers one).
        expect(await a2.request({ t: 'commit', collection: 'hello', changes: [{ key: 'tablet', value: 1 }] })).toMatchObject({ t: 'committed' });
        for (const collection of collections) {
          // base 0 = "the key does not exist": true for this attacker whatever the victim holds.
          const c = await a1.request({ t: 'commit', collection, changes: keys.map((key) => ({ key, value: { owner: attacker, key }, base: 0 })) });
          expect({ attacker, collection, answer: c }).toMatchObject({ attacker, collection, answer: { t: 'committed', conflicts: [] } });
        }
        for (const collection of collections) {
          const p = await a1.request({ t: 'pull', collection, since: 0 });
          const got = (p['changes'] as { key: string; value: { owner: string; key: string } }[]).map((ch) => [ch.key, ch.value.owner, ch.value.key]);
          expect({ attacker, collection, got: got.sort() }).toEqual({ attacker, collection, got: keys.map((k) => [k, attacker, k]).sort() });
        }
        // The attacker's own other device hears every commit: pushes do flow, so the victim's silence means something.
        await until(() => a2.frames.filter((f) => f.t === 'sync').length >= collections.length, `${show(attacker)}'s tablet to hear every commit`);
        for (const toDevice of targets) {
          const answer = await a1.request({ t: 'send', toDevice, body: { from: attacker, toDevice } });
          // Commands go only to the attacker's own known devices; any other name is refused, whoever has it.
          if (toDevice === 'laptop' || toDevice === 'tablet') expect(answer).toMatchObject({ t: 'sent' });
          else expect({ toDevice, answer }).toMatchObject({ toDevice, answer: { t: 'error', code: 'quota_exceeded' } });
        }
        const own = await a2.next((f) => f.t === 'command');
        expect(own['body']).toEqual({ from: attacker, toDevice: 'tablet' });
        // Acks of the victim's command and of made-up ids are no-ops.
        a2.send({ t: 'ack', commandId });
        a2.send({ t: 'ack', commandId: `${commandId.split('-')[0]}-${'0'.repeat(16)}` });
        expect(await a2.request({ t: 'pull', collection: 'notes', since: 0 })).toMatchObject({ t: 'changes' });
        expect(a2.frames.filter((f) => f.t === 'error')).toEqual([]);
      }),
    );

    // Round trips: anything pushed to the victim by now has arrived.
    for (const v of [v1, v2]) await v.request({ t: 'pull', collection: 'round-trip', since: 0 });
    for (const [v, before] of seenBy) {
      expect(v.frames.slice(before).filter((f) => f['id'] === undefined)).toEqual([]); // no sync, command or delivered
    }
    const notes = await v1.request({ t: 'pull', collection: 'notes', since: 0 });
    const byKey = Object.fromEntries((notes['changes'] as { key: string; value: unknown }[]).map((c) => [c.key, c.value]));
    expect(byKey).toEqual({ k: 'victim-secret', '*': 'victim-star' });
    for (const collection of collections.filter((c) => c !== 'notes')) {
      expect({ collection, pulled: (await v1.request({ t: 'pull', collection, since: 0 }))['changes'] }).toEqual({ collection, pulled: [] });
    }
    // The victim's offline tablet gets its one command (no attacker ack removed it, no attacker send reached it).
    const tablet = await device(victim, 'tablet');
    await tablet.next((f) => f.t === 'command');
    await tablet.request({ t: 'pull', collection: 'round-trip', since: 0 });
    expect(tablet.frames.filter((f) => f.t === 'command').map((f) => [f['commandId'], f['body']])).toEqual([[commandId, 'victim-command']]);
    expect(v1.frames.filter((f) => f.t === 'delivered')).toEqual([]);
    tablet.send({ t: 'ack', commandId });
    await v1.next((f) => f.t === 'delivered' && f['commandId'] === commandId);
  });

  it('unicode ids - long ids of four-byte characters work end to end; ids with unpaired surrogates are refused at the distributor', async () => {
    // Unpaired surrogates become U+FFFD in UTF-8, where ids are hashed and stored: "x\uD800" would be "x\uFFFD".
    for (const body of [{ userId: 'x\uD800' }, { userId: 'x\uDFFFy' }]) {
      const res = await fetch(`${cluster.url}/v1/dev/token`, { method: 'POST', body: JSON.stringify(body) });
      expect({ body, status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code }).toEqual({ body, status: 400, code: 'bad_request' });
    }
    const token = await devToken(cluster.url, 'x\uFFFD');
    const lone = await fetch(`${cluster.url}/v1/connect`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ userId: 'x\uFFFD', deviceId: 'd\uDC00' }) });
    expect(lone.status).toBe(400);
    expect(((await lone.json()) as { error: { code: string } }).error.code).toBe('bad_request');

    // 64 four-byte characters: 256 bytes, the storage's limit for ids (the distributor allows 128 characters).
    const user = '😀'.repeat(64);
    const phoneId = '📱'.repeat(64);
    const laptop = await device(user, `${'💻'.repeat(63)}x`);
    const phone = await device(user, phoneId);
    const c = await laptop.request({ t: 'commit', collection: '📓'.repeat(32), changes: [{ key: '🔑'.repeat(128), value: 'ok' }] });
    expect(c).toMatchObject({ t: 'committed', conflicts: [] });
    await phone.next((f) => f.t === 'sync');
    expect((await phone.request({ t: 'pull', collection: '📓'.repeat(32), since: 0 }))['changes']).toEqual([{ key: '🔑'.repeat(128), rev: c['rev'], value: 'ok' }]);
    const sent = await laptop.request({ t: 'send', toDevice: phoneId, body: 'tab' });
    expect(sent).toMatchObject({ t: 'sent' });
    expect(await phone.next((f) => f.t === 'command')).toMatchObject({ commandId: sent['commandId'], body: 'tab' });
  });

  it('survival - afterwards every process of the cluster is the one that started, /healthz is ok, and devices still commit and sync', async () => {
    const pids = [cluster.state.pid, ...cluster.state.processes.map((p) => p.pid)];
    const dead = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect({ dead, processes: cluster.state.processes.map((p) => `${p.name}:${p.pid}`) }).toMatchObject({ dead: [] });
    const health = await fetch(`${cluster.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', socketServers: 2 });
    for (const p of cluster.state.processes.filter((q) => q.socket !== undefined)) {
      const res = await fetch(p.socket!.replace(/^ws:/, 'http:').replace(/\/ws$/, '/healthz'));
      expect({ node: p.name, status: res.status }).toEqual({ node: p.name, status: 200 });
    }
    // No process logged an error: every hostile input was refused as the client's fault, not failed on.
    for (const file of await readdir(join(cluster.dataDir, 'logs'))) {
      const errors = (await readFile(join(cluster.dataDir, 'logs', file), 'utf8')).split('\n').filter((l) => /"level":(50|60)\b/.test(l));
      expect({ file, errors: errors.map((l) => l.slice(0, 600)) }).toEqual({ file, errors: [] });
    }
    const a = await device('survivor', 'laptop');
    const b = await deviceOnOtherNode('survivor', a);
    const c = await a.request({ t: 'commit', collection: 'bookmarks', changes: [{ key: 'home', value: { url: 'https://example.org', visits: 2n ** 40n } }] });
    expect(c).toMatchObject({ t: 'committed', conflicts: [] });
    await b.next((f) => f.t === 'sync' && f['collection'] === 'bookmarks');
    const pulled = await b.request({ t: 'pull', collection: 'bookmarks', since: 0 });
    expect(pulled['changes']).toEqual([{ key: 'home', rev: c['rev'], value: { url: 'https://example.org', visits: 2n ** 40n } }]);
  });
});
