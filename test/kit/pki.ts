/**
 * Test kit: a throw-away certificate authority and one certificate for 127.0.0.1 / localhost, made
 * with openssl in a temporary directory (removed by construction). The certificate serves as server
 * certificate on client ports and as both ends of mutually authenticated routes.
 *
 *   await using pki = await testPki();
 *   pki.caFile, pki.certFile, pki.keyFile
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function testPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'syncmesh-pki-'));
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  try {
    await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=syncmesh test CA', '-keyout', f('ca.key'), '-out', f('ca.pem'));
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
    await writeFile(
      f('server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n',
    );
    await ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem'));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not make test certificates with openssl (is it installed?): ${(err as Error).message}`, { cause: err });
  }
  return {
    dir,
    caFile: f('ca.pem'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
  };
}
