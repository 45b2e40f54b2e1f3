/**
 * Certificates for TLS tests, made with openssl at run time: a private CA, a server certificate
 * it signs (for `localhost` and 127.0.0.1), and a second CA that signs nothing (the "wrong CA").
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface TestCertificates extends TlsFiles {
  /** The CA's certificate (what a client trusts). */
  ca: Buffer;
  /** A CA that did not sign the server's certificate. */
  wrongCa: Buffer;
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'load-status-tls-'));
  const days = '2';
  for (const name of ['ca', 'wrong-ca']) {
    openssl(dir, 'genrsa', '-out', `${name}.key`, '2048');
    openssl(
      dir,
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-sha256',
      '-days',
      days,
      '-subj',
      `/CN=load-status test ${name}`,
      '-out',
      `${name}.crt`,
    );
  }
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(dir, 'genrsa', '-out', 'server.key', '2048');
  openssl(dir, 'req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr');
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    days,
    '-sha256',
    '-extfile',
    'server.ext',
    '-out',
    'server.crt',
  );
  return {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    ca: readFileSync(join(dir, 'ca.crt')),
    wrongCa: readFileSync(join(dir, 'wrong-ca.crt')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
