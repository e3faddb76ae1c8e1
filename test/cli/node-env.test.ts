/** The environment role processes start with (gateway/cli/node-flags.ts): defaults an operator's own value overrides. */
import { describe, expect, it } from 'vitest';
import { NODE_PROCESS_ENV, nodeProcessEnv } from '../../gateway/cli/mod.js';

describe('nodeProcessEnv', () => {
  it('sets two malloc arenas unless the environment already says otherwise', () => {
    expect(NODE_PROCESS_ENV).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(nodeProcessEnv({})).toEqual({ MALLOC_ARENA_MAX: '2' });
    expect(nodeProcessEnv({ MALLOC_ARENA_MAX: '4' })).toEqual({});
  });
});
