/**
 * What other folders use of the command line programs (the programs themselves are
 * dist/gateway/cli/syncmesh.js and node.js).
 */
export { SOCKET_NODE_FLAGS, NODE_PROCESS_ENV, nodeProcessEnv } from './node-flags.js';
export type { RunningInfo } from './roles.js';
