import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** A certificate or key Broker cannot serve with; the message names the setting and the file. */
export class TlsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsError';
  }
}

/** The certificate and key, checked, with what the log says about them. */
export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  /** End of validity, as OpenSSL prints it (e.g. "Dec  1 00:00:00 2027 GMT"). */
  readonly validTo: string;
  readonly expired: boolean;
}

/**
 * Reads TLS_CERT and TLS_KEY and checks them the way a TLS handshake would need them: a PEM
 * certificate, an unencrypted PEM private key, the key belonging to the certificate, and OpenSSL
 * accepting the pair. Every failure is a TlsError with one readable sentence (the start-up turns
 * it into exit status 2; SIGHUP logs it and keeps the certificate in use).
 */
export function loadTlsCredentials(certPath: string, keyPath: string): TlsCredentials {
  const cert = readFile(certPath, 'TLS_CERT', 'certificate');
  const key = readFile(keyPath, 'TLS_KEY', 'private key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new TlsError(`TLS_CERT ${certPath} holds no PEM certificate (${reason(error)})`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    // OpenSSL's own message for a key that wants a passphrase is "interrupted or cancelled".
    const encrypted = /ENCRYPTED/.test(key.toString('latin1'));
    const hint = encrypted ? 'it is encrypted: Broker needs it unencrypted, e.g. openssl pkey -in key.pem -out plain.pem' : reason(error);
    throw new TlsError(`TLS_KEY ${keyPath} holds no usable PEM private key (${hint})`, { cause: error });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new TlsError(`TLS_KEY ${keyPath} does not match the certificate in TLS_CERT ${certPath} (it is the key of another certificate)`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new TlsError(`OpenSSL refuses TLS_CERT ${certPath} with TLS_KEY ${keyPath} (${reason(error)})`, { cause: error });
  }
  const notAfter = Date.parse(x509.validTo);
  return {
    cert,
    key,
    subject: x509.subject.replace(/\n/g, ', '),
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
    validTo: x509.validTo,
    expired: Number.isFinite(notAfter) && notAfter < Date.now(),
  };
}

function readFile(path: string, setting: string, what: string): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : reason(error);
    throw new TlsError(`cannot read the ${what} ${setting} ${path}: ${why}`, { cause: error });
  }
  if (content.length === 0) throw new TlsError(`the ${what} ${setting} ${path} is empty`);
  return content;
}

/** OpenSSL's own words, without its error-queue prefixes ("error:1E08010C:DECODER routines::"). */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '').trim() || 'unreadable';
}
