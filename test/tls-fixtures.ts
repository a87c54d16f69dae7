/**
 * Test certificates made with Debian's `openssl` in a temporary directory, removed after the test:
 * a test CA and a server certificate it signed for 127.0.0.1, a client certificate it signed (for
 * mutual TLS), and a second CA that signed nothing the servers use (the "wrong CA"). EC keys: they
 * are made in milliseconds, where RSA takes a noticeable share of a test's time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { TestScope } from './helpers.js';

/** PEM files as paths (for child processes) and as contents. */
export interface TestCertificates {
  /** Paths of the server's key and certificate. */
  key: string;
  cert: string;
  /** The test CA's certificate (PEM bytes): what a client must trust. */
  ca: Buffer;
  /** A client certificate the test CA signed (CN=test-client), and its key. */
  clientCert: Buffer;
  clientKey: Buffer;
  /** Another CA's certificate: trusting only it, a client must refuse the server. */
  otherCa: Buffer;
}

/** Makes a fresh set of {@link TestCertificates}; the directory is removed after the test. */
export function testCertificates(scope: Pick<TestScope, 'defer'>): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Switchboard test CA');
  ssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '1', '-subj', '/CN=Another test CA');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.cnf');
  ssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=test-client');
  writeFileSync(join(dir, 'client.cnf'), 'extendedKeyUsage=clientAuth\n');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '1', '-extfile', 'client.cnf');
  const read = (f: string) => readFileSync(join(dir, f));
  return {
    key: join(dir, 'server.key'),
    cert: join(dir, 'server.pem'),
    ca: read('ca.pem'),
    clientCert: read('client.pem'),
    clientKey: read('client.key'),
    otherCa: read('other.pem'),
  };
}

/** One set of {@link TestCertificates} for a whole file (made in its beforeAll, removed in its afterAll): returns a getter. */
export function certificatesForFile(): () => TestCertificates {
  let certs: TestCertificates | undefined;
  const cleanups: (() => void)[] = [];
  beforeAll(() => {
    certs = testCertificates({ defer: (fn) => void cleanups.push(fn as () => void) });
  });
  afterAll(() => {
    for (const fn of cleanups.splice(0)) fn();
  });
  return () => {
    if (!certs) throw new Error('the test certificates were not made');
    return certs;
  };
}
