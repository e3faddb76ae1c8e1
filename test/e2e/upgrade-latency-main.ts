/**
 * Measures the WebSocket upgrade latency of one socket node (ticket check included): the time from
 * opening `ws://.../ws?ticket=` to the `open` event, for fresh tickets, one at a time and 32 at a time.
 * A real nats-server with JetStream and a real socket node in this process (no store).
 *
 *   npm run build --silent && node dist/test/e2e/upgrade-latency-main.js [upgrades]
 *
 * Prints one line per mode: p50, p99 and max in ms. Used to compare the replay guard's cost
 * (docs/security.md, "Tickets").
 */
import { natsServer } from '../kit/nats.js';
import { socketNode, tryOpen, TestClient, closeAll } from '../socket/kit.js';

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2_000);
  await using ns = await natsServer();
  await using sn = await socketNode(ns.url, { store: 'none' });
  let serial = 0;
  const once = async (): Promise<number> => {
    const ticket = sn.ticket('lat-user', `d${serial++}`);
    const t0 = performance.now();
    const r = await tryOpen(sn.server.url, ticket);
    const ms = performance.now() - t0;
    if (!(r instanceof TestClient)) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
    await closeAll([r]);
    return ms;
  };
  for (let i = 0; i < 200; i++) await once(); // warm-up
  const report = (mode: string, xs: number[]): void => {
    xs.sort((a, b) => a - b);
    console.log(`${mode}: n=${xs.length} p50 ${quantile(xs, 0.5).toFixed(2)} ms, p99 ${quantile(xs, 0.99).toFixed(2)} ms, max ${xs.at(-1)!.toFixed(2)} ms`);
  };
  const sequential: number[] = [];
  for (let i = 0; i < n; i++) sequential.push(await once());
  report('upgrade, one at a time', sequential);
  const parallel: number[] = [];
  for (let i = 0; i < n / 32; i++) parallel.push(...(await Promise.all(Array.from({ length: 32 }, once))));
  report('upgrade, 32 at a time', parallel);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
