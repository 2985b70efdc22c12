/** The few Broker API calls the suite needs (users, login, health, metrics), over RawHttpConnection. */
import { httpOnce, RawHttpConnection } from './raw-http.js';

export const HOST = '127.0.0.1';

export function authHeader(jwt: string): string {
  return `Authorization: Bearer ${jwt}\r\n`;
}

/** Body of POST /insert. `timestampS` null: omitted, i.e. "now". `dataJson` is compact JSON. */
export function insertBody(event: string, dataJson: string, timestampS: number | null): string {
  return timestampS === null
    ? `{"event":"${event}","data":${dataJson}}`
    : `{"event":"${event}","timestamp":${timestampS},"data":${dataJson}}`;
}

function parseJsonField(body: string, field: string): string {
  const parsed: unknown = JSON.parse(body);
  if (typeof parsed === 'object' && parsed !== null && field in parsed) {
    const v = (parsed as Record<string, unknown>)[field];
    if (typeof v === 'string') return v;
  }
  throw new Error(`response has no string "${field}": ${body.slice(0, 200)}`);
}

/** `secure`: the server speaks TLS (TLS_CERT), here and below. */
export async function createUser(port: number, username: string, password: string, secure = false): Promise<string> {
  const body = JSON.stringify({ username, password, info: { bench: true } });
  const r = await httpOnce(HOST, port, 'POST', '/users', body, '', 30_000, secure);
  if (r.status < 200 || r.status > 299) throw new Error(`POST /users → ${r.status} ${r.body.slice(0, 200)}`);
  return parseJsonField(r.body, 'id');
}

export async function login(conn: RawHttpConnection, username: string, password: string): Promise<string> {
  const r = await conn.request('POST', '/login', JSON.stringify({ username, password }));
  if (r.status !== 200) throw new Error(`POST /login → ${r.status} ${r.body.slice(0, 200)}`);
  return parseJsonField(r.body, 'jwt');
}

/** Creates a user and returns a token for it. */
export async function userToken(port: number, username: string, password = 'bench-password-1', secure = false): Promise<string> {
  await createUser(port, username, password, secure);
  const conn = new RawHttpConnection(HOST, port, 30_000, secure);
  try {
    return await login(conn, username, password);
  } finally {
    conn.close();
  }
}

/** GET /health on a fresh connection: its status, or the error code when it could not connect. */
export async function healthStatus(port: number, timeoutMs = 5_000, secure = false): Promise<string> {
  try {
    const r = await httpOnce(HOST, port, 'GET', '/health', null, '', timeoutMs, secure);
    return String(r.status);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ?? (err instanceof Error ? err.message : String(err));
  }
}

/** `nodejs_eventloop_lag_p99_seconds` from GET /metrics (reading it also resets prom-client's histogram). */
export async function eventLoopLagP99Ms(port: number): Promise<number> {
  try {
    const r = await httpOnce(HOST, port, 'GET', '/metrics', null, '', 10_000);
    if (r.status !== 200) return Number.NaN;
    const m = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})?\s+([0-9.eE+-]+)/m.exec(r.body);
    return m?.[1] === undefined ? Number.NaN : Number(m[1]) * 1000;
  } catch {
    return Number.NaN;
  }
}
