/**
 * Test kit: a throwaway certificate authority and a server certificate for 127.0.0.1 / localhost,
 * made with openssl in a temporary directory, removed by construction.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  /** PEM of the CA clients must trust. */
  readonly ca: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function testCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'syncmesh-tls-'));
  const f = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=syncmesh test CA');
    openssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
    await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make the test certificates (is openssl installed?): ${String((err as { stderr?: Buffer }).stderr ?? err)}`, { cause: err });
  }
  return {
    ca: await readFile(f('ca.pem'), 'utf8'),
    cert: await readFile(f('server.pem'), 'utf8'),
    key: await readFile(f('server.key'), 'utf8'),
    certFile: f('server.pem'),
    keyFile: f('server.key'),
    [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
  };
}
