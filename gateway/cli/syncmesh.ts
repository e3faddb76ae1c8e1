#!/usr/bin/env node
/**
 * The `syncmesh` program (package.json "bin"):
 *
 *   syncmesh cluster [flags]               the local cluster on one machine (what `npm start` runs)
 *   syncmesh node --roles ROLES [flags]    one node with any set of roles, for several machines
 *
 * `syncmesh --help` and `syncmesh COMMAND --help` list everything; docs/operations.md explains it.
 */
import { clusterCommand } from './cluster.js';
import { nodeCommand } from './node.js';
import { registerCommand, runProgram } from './program.js';

registerCommand(clusterCommand);
registerCommand(nodeCommand);
runProgram(process.argv.slice(2));
