/**
 * Node.js flags a role process is started with (by `syncmesh cluster`, the bench's cluster, and the
 * deployment examples in docs/deployment.md).
 *
 * Socket nodes: `--max-semi-space-size=2` caps V8's young generation at 2 MiB per semi-space. By
 * default it grows to 16 MiB each (about 48 MiB of new space with its copy) as soon as a burst of
 * connections allocates, and stays reserved: 25 KB of RSS per idle connection at 2k connections, of
 * which 17 KB was young-generation reserve; with the cap 7.9 KB (test/socket/memory.test.ts,
 * TARGETS P4). Set at process start only: V8 ignores the flag when set later (v8.setFlagsFromString).
 */
export const SOCKET_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Environment every role process is started with unless the launcher's environment sets it.
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own malloc arena (up to 8 per core),
 * and Node allocates from several (the main thread, libuv's pool for crypto and files, V8's GC and
 * compiler threads, which free ArrayBuffer backing stores). Memory freed into one arena is not reused
 * by another, so a long-running node's RSS creeps although its JS heap is flat (the R6 soak: gateway
 * +5.9% in 10 minutes with a JS heap growing 0.4 MB in 20; +3.8% with two arenas). Two arenas cost no
 * measurable throughput here. Has no effect on other C libraries (musl) or on nats-server (Go).
 */
export const NODE_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** NODE_PROCESS_ENV, minus what `env` already sets (an operator's own value wins). */
export function nodeProcessEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(NODE_PROCESS_ENV)) if (env[k] === undefined) out[k] = v;
  return out;
}
