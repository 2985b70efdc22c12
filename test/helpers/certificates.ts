/**
 * Test certificates made with `openssl` in a temp dir: one test CA, and server certificates it
 * signs for localhost and 127.0.0.1 (each with its own serial), so that clients verify them for
 * real by trusting the CA instead of turning verification off.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM), to trust in clients. */
  readonly ca: Buffer;
  /** A new certificate for localhost and 127.0.0.1, signed by the CA. */
  issue(name: string): ServerCertificate;
}

export interface ServerCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** Hex serial, upper case without separators (as X509Certificate.serialNumber). */
  readonly serialNumber: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh EC P-256 key at `path` (unencrypted PEM). */
export function makeKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

export function makeTestCa(dir: string): TestCa {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.pem');
  makeKey(caKey);
  openssl(['req', '-x509', '-new', '-key', caKey, '-out', caCert, '-days', '2', '-subj', '/CN=Broker test CA']);
  const ext = join(dir, 'server.ext');
  writeFileSync(
    ext,
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  return {
    dir,
    ca: readFileSync(caCert),
    issue(name) {
      const keyPath = join(dir, `${name}.key`);
      const certPath = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      // 16 hex digits, the first neither 0 (X509Certificate would print one more) nor ≥ 8 (negative).
      const serialNumber = `5${randomBytes(8).toString('hex').toUpperCase().slice(1)}`;
      makeKey(keyPath);
      openssl(['req', '-new', '-key', keyPath, '-out', csr, '-subj', `/CN=localhost/O=${name}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x${serialNumber}`, '-days', '2', '-extfile', ext, '-out', certPath]);
      return { certPath, keyPath, serialNumber };
    },
  };
}
