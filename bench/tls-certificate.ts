/**
 * The certificate of the suite's TLS servers: self-signed, made once per run with `openssl` in a
 * temp dir the suite removes. ECDSA P-256, what most sites serve (its handshakes cost the server
 * a fraction of RSA-2048's). Clients do not verify it: the suite measures the cost of TLS, not
 * of trust.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trackTempDir } from './children.js';

export interface BenchCertificate {
  certPath: string;
  keyPath: string;
}

let made: BenchCertificate | null = null;

export function benchCertificate(): BenchCertificate {
  if (made !== null && fs.existsSync(made.certPath)) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-bench-tls-'));
  trackTempDir(dir);
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  made = { certPath, keyPath };
  return made;
}
