/**
 * Liveness and readiness of one node.
 *
 * `/healthz` answers while the process runs. `/readyz` answers 200 only when the node can take work:
 * NATS connected, JetStream answering, every server of its roles listening, and the node not draining.
 * Otherwise 503 with the checks that failed, each saying what is wrong, so a load balancer stops
 * sending work and an operator sees why.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { watchNatsStatus } from '../../runtime/mod.js';

/** One readiness check: undefined when fine, else what is wrong (one sentence). */
export type ReadinessCheck = () => string | undefined | Promise<string | undefined>;

/** The answer of /readyz. */
export interface Readiness {
  readonly ready: boolean;
  /** Every check, `ok` or its problem. */
  readonly checks: Readonly<Record<string, string>>;
}

/** Runs every check (in parallel, each bounded by the caller's checks). */
export async function readiness(checks: Readonly<Record<string, ReadinessCheck>>): Promise<Readiness> {
  const names = Object.keys(checks);
  const results = await Promise.all(
    names.map(async (name) => {
      try {
        return (await checks[name]!()) ?? 'ok';
      } catch (err) {
        return `check failed: ${(err as Error).message}`;
      }
    }),
  );
  const out: Record<string, string> = {};
  names.forEach((n, i) => (out[n] = results[i]!));
  return { ready: results.every((r) => r === 'ok'), checks: out };
}

/** The state of a NATS connection, followed through its status events. */
export interface NatsWatch {
  readonly connected: boolean;
  /** The readiness check: connected, else since when it is not. */
  readonly check: ReadinessCheck;
  stop(): void;
}

export function watchNats(nc: NatsConnection, onEvent: (type: 'reconnect' | 'disconnect') => void): NatsWatch {
  let connected = !nc.isClosed();
  let since = 0;
  // An iteration that ends with the connection needs nothing here: isClosed() below covers it.
  const stop = watchNatsStatus(nc, (type) => {
    if (type === 'disconnect') {
      connected = false;
      since = Date.now();
      onEvent('disconnect');
    } else if (type === 'reconnect') {
      connected = true;
      onEvent('reconnect');
    }
  });
  return {
    get connected() {
      return connected && !nc.isClosed();
    },
    check: () => {
      if (nc.isClosed()) return 'the NATS connection is closed';
      if (!connected) return `disconnected from NATS for ${Math.round((Date.now() - since) / 1000)} s; reconnecting`;
      return undefined;
    },
    stop,
  };
}

/**
 * JetStream reachable: an account-info request with a short deadline. Answers are reused for
 * `cacheMs`, so a busy prober costs at most one request per period.
 */
export function jetStreamCheck(nc: NatsConnection, timeoutMs = 1_000, cacheMs = 1_000): ReadinessCheck {
  let jsm: Promise<JetStreamManager> | undefined;
  let last: { at: number; result: string | undefined } | undefined;
  let inFlight: Promise<string | undefined> | undefined;
  const probe = async (): Promise<string | undefined> => {
    try {
      jsm ??= jetstreamManager(nc, { timeout: timeoutMs });
      const m = await jsm;
      await m.getAccountInfo();
      return undefined;
    } catch (err) {
      jsm = undefined;
      return `JetStream does not answer: ${(err as Error).message}`;
    }
  };
  return () => {
    if (last !== undefined && Date.now() - last.at < cacheMs) return last.result;
    inFlight ??= probe().then((result) => {
      last = { at: Date.now(), result };
      inFlight = undefined;
      return result;
    });
    return inFlight;
  };
}
