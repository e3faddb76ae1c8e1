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
