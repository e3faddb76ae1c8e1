/**
 * ownString (protocol/codec.ts): a decoded string kept after its message is handled must not keep the
 * message's text alive. Checked in a child Node process (its own small heap): decode a message with a
 * marker in it, keep only one field, collect garbage, and look for the marker in a heap snapshot.
 */
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decode, encode, ownString } from '../../protocol/mod.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** True when, after keeping the txid of a decoded message (through ownString if `own`), the message's text is still on the heap. */
async function messageTextRetained(own: boolean): Promise<boolean> {
  const script = `
    import { getHeapSnapshot } from 'node:v8';
    import { decode, encode, ownString } from './dist/protocol/mod.js';
    // In a function, so nothing but the kept field outlives the decoded message.
    (() => {
      const m = decode(encode({ type: 'commit', txid: 'tx-0123456789abcdef', pad: 'MARKER' + 'q'.repeat(200) }));
      globalThis.kept = ${own ? 'ownString(m.txid)' : 'm.txid'};
    })();
    // msgpackr holds the last message's text until its next decode.
    decode(encode({ next: 'another message' }));
    await new Promise((r) => setTimeout(r, 0));
    globalThis.gc();
    let text = '';
    for await (const chunk of getHeapSnapshot()) text += chunk;
    process.stdout.write(text.includes('MARKER' + 'q'.repeat(200)) ? 'retained' : 'freed');
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: root });
  return stdout === 'retained';
}

describe('ownString', () => {
  it('copies exactly, lone surrogates and non-ASCII included', () => {
    for (const s of ['', 'short', 'tx-0123456789abcdef', 'ключ-0123456789-😀-abc', '\ud800 lone surrogate \udfff tail']) {
      expect(ownString(s)).toBe(s);
      const decoded = decode(encode({ s })) as { s: string };
      expect(ownString(decoded.s)).toBe(decoded.s);
    }
  });

  it('lets the decoded message go, where the decoded string itself keeps it', async () => {
    // The control shows the check can see a retained message (msgpackr slices); then the copy frees it.
    expect(await messageTextRetained(false)).toBe(true);
    expect(await messageTextRetained(true)).toBe(false);
  }, 30_000);
});
