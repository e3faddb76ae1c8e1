/**
 * R8 (TARGETS.md), with real processes: a storage node is paused (SIGSTOP) past its lease while its
 * store actor has commits in flight; the other storage node takes the user over and commits; the first
 * resumes. No stale write becomes visible, every acknowledged commit is there, revisions only grow.
 *
 * Writers behave as the client library does after a failure: they resend the commit with the same
 * txid until it is acknowledged, so each commit is applied once whichever node answers.
 *
 * Needs the compiled fixture: `npm run build` (or `npx tsc -p tsconfig.json`) first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { pino } from 'pino';
import type { CommitRequest, CommitResult } from '../../actors/messages.js';
import { createCloudStore, STORE_KIND } from '../../actors/store/mod.js';
import { connectionId } from '../../protocol/cluster/mod.js';
import { decode } from '../../protocol/mod.js';
import { startNode, type RuntimeMetrics } from '../../runtime/mod.js';
import { natsServer } from '../kit/nats.js';
import { eventually } from './kit.js';

const FIXTURE = resolve(process.cwd(), 'dist/test/store/fixtures/storage-node.js');
const HEARTBEAT_MS = 150;
const DOWN_AFTER_MS = 1_500;
/**
 * Concurrent writers, each with one commit in flight. Commits of one user run one after another on its
 * store, so at the pause most of them wait in node A's queue, not yet written: those are the stale
 * writes the fence must refuse on resume. With 4, a pause under full-suite load now and then caught
 * every in-flight commit already written and only its answer pending (nothing to refuse).
 */
const WRITERS = 8;

interface StorageProcess {
  readonly id: string;
  readonly proc: ChildProcess;
  stderr(): string;
  /** The node's runtime metrics (asked on its stdin). */
  metrics(): Promise<RuntimeMetrics>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function storageNode(natsUrl: string, id: string): Promise<StorageProcess> {
  if (!existsSync(FIXTURE)) throw new Error(`${FIXTURE} is missing: run \`npm run build\` before this test`);
  const proc = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, NATS_URL: natsUrl, NODE_ID: id, HEARTBEAT_MS: String(HEARTBEAT_MS), DOWN_AFTER_MS: String(DOWN_AFTER_MS), LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  let done = false;
  void exited.then(() => (done = true));
  const stop = async (): Promise<void> => {
    if (!done) {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    }
    await exited;
  };
  try {
    await eventually(`storage node ${id} ready`, () => {
      if (done) throw new Error(`storage node ${id} exited during start: ${err}`);
      return out.includes(`ready ${id}`) ? true : undefined;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const metrics = async (): Promise<RuntimeMetrics> => {
    const from = out.length;
    proc.stdin!.write('metrics\n');
    const line = await eventually(`metrics of ${id}`, () => out.slice(from).split('\n').find((l) => l.startsWith('metrics ') && l.endsWith('}')));
    return JSON.parse(line.slice('metrics '.length)) as RuntimeMetrics;
  };
  return { id, proc, stderr: () => err, metrics, [Symbol.asyncDispose]: stop };
}

interface Acked {
  readonly writer: number;
  readonly i: number;
  readonly rev: number;
}

describe('store - R8 fenced writes across storage node processes', () => {
  it('store - a storage node paused past its lease with commits in flight: no stale write visible, every acknowledged commit present, revisions grow', { timeout: 90_000 }, async () => {
    await using ns = await natsServer();
    await using a = await storageNode(ns.url, 'r8-a');
    await using b = await storageNode(ns.url, 'r8-b');
    const caller = await startNode({ nats: ns.url, nodeId: 'r8-caller', heartbeatMs: HEARTBEAT_MS, downAfterMs: DOWN_AFTER_MS, logger: pino({ level: 'silent' }) });
    const nc = await connect({ servers: ns.url });
    try {
      await eventually('both storage nodes seen', () => (['r8-a', 'r8-b'].every((id) => caller.members().some((m) => m.nodeId === id && m.kinds.includes(STORE_KIND))) ? true : undefined));
      const leases = await new Kvm(nc).open('sm_leases');
      const holder = async (userId: string): Promise<string | undefined> => {
        const e = await leases.get(`${STORE_KIND}.${Buffer.from(userId, 'utf8').toString('base64url')}`);
        return e && e.operation === 'PUT' ? (decode(e.value) as { node: string }).node : undefined;
      };
      const commit = (request: CommitRequest): Promise<CommitResult> => caller.ask<CommitResult>({ kind: STORE_KIND, id: request.userId }, request, { timeoutMs: 4_000 });
      const request = (userId: string, collection: string, changes: CommitRequest['changes'], txid: string): CommitRequest => ({
        type: 'commit',
        userId,
        deviceId: 'd',
        connectionId: connectionId(userId, 'd'),
        collection,
        changes,
        txid,
      });

      // A user whose store actor activates on node A.
      let userId = '';
      for (let i = 0; userId === '' && i < 64; i++) {
        const candidate = `r8-user-${i}`;
        await commit(request(candidate, 'c', [{ key: 'start', value: i }], `start-${i}`));
        if ((await holder(candidate)) === 'r8-a') userId = candidate;
      }
      expect(userId).not.toBe('');

      // Writers: each commits its own sequence, waiting for each acknowledgement, resending with the
      // same txid after any failure. Every commit writes the writer's key, a shared key, and a key of its own.
      const acked: Acked[] = [];
      const failures: string[] = [];
      let stop = false;
      // Set when the test ends early: writers then give up at once instead of resending forever.
      let abort = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const changes = [
            { key: `w${w}`, value: i },
            { key: 'shared', value: `${w}:${i}` },
            { key: `c-${w}-${i}`, value: i },
          ];
          while (!abort) {
            try {
              const r = await commit(request(userId, 'c', changes, `tx-${w}-${i}`));
              acked.push({ writer: w, i, rev: r.rev });
              break;
            } catch (err) {
              failures.push(String((err as Error).message).slice(0, 120));
            }
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      try {
        await eventually('commits acknowledged by node A', () => (acked.length >= 40 ? true : undefined));
        a.proc.kill('SIGSTOP');
        const pausedAt = acked.length;
        // Past the lease: node B takes the user over and acknowledges commits.
        await eventually('node B holding the user', async () => ((await holder(userId)) === 'r8-b' ? true : undefined), 30_000);
        await eventually('commits acknowledged while node A is paused', () => (acked.length >= pausedAt + 40 ? true : undefined), 30_000);
        a.proc.kill('SIGCONT');
        const resumedAt = acked.length;
        await eventually('commits acknowledged after node A resumed', () => (acked.length >= resumedAt + 40 ? true : undefined), 30_000);
        stop = true;
        await Promise.all(writers);
      } finally {
        stop = true;
        abort = true;
        await Promise.all(writers);
      }

      // What is stored, read by a storage that never served the user.
      const reader = await createCloudStore({ nc });
      const seen = new Map<string, { rev: number; value?: unknown }>();
      for (let since = 0; ; ) {
        const page = await reader.pull({ userId, collection: 'c', since });
        for (const c of page.changes) seen.set(c.key, c);
        since = page.rev;
        if (!page.more) break;
      }
      await reader.close();

      // Every acknowledged commit is present, at the revision it was acknowledged with (its own key is
      // its last change, and a commit's rev is the highest it wrote).
      for (const x of acked) expect(seen.get(`c-${x.writer}-${x.i}`), `commit ${x.writer}/${x.i}`).toMatchObject({ value: x.i, rev: x.rev });
      // No stale write visible: each writer's key holds its last acknowledged value (writers wait for
      // each acknowledgement, so a visible older value would be a stale write landing late) ...
      for (let w = 0; w < WRITERS; w++) {
        const last = acked.filter((x) => x.writer === w).at(-1)!;
        const got = seen.get(`w${w}`)!;
        expect(got.value, `writer ${w}`).toBe(last.i);
        expect(got.rev).toBeLessThan(last.rev);
      }
      // ... and the shared key holds the acknowledged commit with the highest revision.
      const top = acked.reduce((p, q) => (q.rev > p.rev ? q : p));
      expect(seen.get('shared')!.value).toBe(`${top.writer}:${top.i}`);
      expect(seen.get('shared')!.rev).toBeLessThan(top.rev);
      // Revisions only grow: each writer's acknowledged revisions increase.
      for (let w = 0; w < WRITERS; w++) {
        const revs = acked.filter((x) => x.writer === w).map((x) => x.rev);
        expect(revs).toEqual([...revs].sort((p, q) => p - q));
        expect(new Set(revs).size).toBe(revs.length);
      }
      // Nothing but acknowledged commits: no key of a commit that was never acknowledged.
      const ackedKeys = new Set(acked.map((x) => `c-${x.writer}-${x.i}`));
      const extra = [...seen.keys()].filter((k) => k.startsWith('c-') && !ackedKeys.has(k));
      expect(extra).toEqual([]);
      // The scenario happened: commits failed over, and node A's work in flight at the pause was
      // refused once it resumed: a write refused by the index fence, or a queued commit refused because
      // A's activation had ended (its lease lost when it fenced itself), both logged; or asks not run
      // because they reached the store past their deadline (A's runtime counts them, its store logs them).
      expect(failures.length).toBeGreaterThan(0);
      await eventually(
        'node A refusing its stale work',
        async () => (/another storage node|no longer holds this user's store|past its asker's deadline/.test(a.stderr()) || (await a.metrics()).asksExpired > 0 ? true : undefined),
        10_000,
      );
    } finally {
      await nc.close();
      await caller.close();
    }
  });
});
