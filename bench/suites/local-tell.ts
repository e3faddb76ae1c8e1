/**
 * P3: in-process event handling. Ours (node.tell to a local actor) and bare XState (actor.send) both
 * count `ping` events with `assign`; each round measures both, the order alternating per round.
 */
import { BenchAbortedError } from '../errors.js';
import { pool, type Sample } from '../measure.js';
import { measureBareXState } from '../peers/xstate.js';
import type { Outcome, TargetResult } from '../report.js';
import type { TargetSpec } from '../targets.js';
import type { SuiteContext } from './context.js';

/** Events sent between two clock reads (and, for ours, between two mailbox drains). */
export const TELL_BATCH = 1_000;

export interface TellMeasureOptions {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly batchSize: number;
  readonly signal: AbortSignal;
}

/** Measures our runtime's local tell throughput: a started session that `measure` can run per round. */
export interface OursTellSession {
  measure(o: TellMeasureOptions): Promise<Sample>;
  close(): Promise<void>;
}

export type OursTellFactory = (natsUrl: string) => Promise<OursTellSession>;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runLocalTell(ctx: SuiteContext, spec: TargetSpec, oursTell: OursTellFactory): Promise<TargetResult> {
  const { natsUrl, options, log, signal } = ctx;
  const m: TellMeasureOptions = { durationMs: options.durationMs, warmupMs: options.warmupMs, batchSize: TELL_BATCH, signal };
  const ours: Sample[] = [];
  const bare: Sample[] = [];
  let oursError: string | undefined;
  let bareError: string | undefined;
  let session: OursTellSession | undefined;
  try {
    log.info(`${spec.id}: starting a runtime node for the local actor`);
    session = await oursTell(natsUrl);
  } catch (err) {
    log.error({ err }, `${spec.id}: our runtime could not start`);
    oursError = `could not start: ${message(err)}`;
  }
  try {
    for (let round = 0; round < options.rounds; round++) {
      const steps: Array<{ ours: boolean; run: () => Promise<void> }> = [
        {
          ours: true,
          run: async () => {
            if (!session || oursError) return;
            log.info(`${spec.id} round ${round + 1}/${options.rounds}: ${spec.oursName}`);
            ours.push(await session.measure(m));
          },
        },
        {
          ours: false,
          run: async () => {
            if (bareError) return;
            log.info(`${spec.id} round ${round + 1}/${options.rounds}: bare XState send`);
            bare.push(await measureBareXState(m.durationMs, m.warmupMs, m.batchSize, signal));
          },
        },
      ];
      if (round % 2 === 1) steps.reverse();
      for (const step of steps) {
        try {
          await step.run();
        } catch (err) {
          if (err instanceof BenchAbortedError) throw err;
          log.error({ err }, `${spec.id}: a measure failed`);
          if (step.ours) oursError = message(err);
          else bareError = message(err);
        }
      }
    }
  } finally {
    await session?.close().catch((err: unknown) => log.warn({ err }, `${spec.id}: closing the runtime node failed`));
  }
  const outcome = (error: string | undefined, samples: Sample[]): Outcome =>
    error ? { error } : samples.length ? { figure: pool(samples) } : { error: 'no figure was taken' };
  return { spec, ours: outcome(oursError, ours), peers: { xstate: outcome(bareError, bare) } };
}
