import assert from 'node:assert/strict';
import { checkResponse } from './openapi-check.js';
/** Small HTTP helpers over fetch for end-to-end tests. */
export interface JsonResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

export async function request(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string; headers?: Record<string, string>; checkOpenApi?: boolean } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text, the test will say so
  }
  // Every answer of every API test is checked against the OpenAPI document.
  if (options.checkOpenApi !== false) checkResponse(method, path, res.status, res.headers.get('content-type'), parsed);
  return { status: res.status, body: parsed, headers: res.headers };
}

let counter = 0;

/** Creates a fresh user and returns its id and token. */
export async function signUp(base: string, name?: string): Promise<{ id: string; token: string; username: string }> {
  counter += 1;
  const username = name ?? `user${counter}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const password = 'correct horse battery';
  const created = await request(base, 'POST', '/users', { body: { username, password, info: { n: counter } } });
  if (created.status !== 200) throw new Error(`sign-up failed: ${created.status} ${JSON.stringify(created.body)}`);
  const login = await request(base, 'POST', '/login', { body: { username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return { id: (created.body as { id: string }).id, token: (login.body as { jwt: string }).jwt, username };
}

export async function insert(
  base: string,
  token: string,
  event: string,
  data: unknown,
  timestamp?: number,
): Promise<string> {
  const res = await request(base, 'POST', '/insert', { token, body: { event, data, timestamp } });
  if (res.status !== 200) throw new Error(`insert failed: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

export const nowSeconds = (): number => Date.now() / 1000;

/** Polls `read` until `ok` holds (a condition, not a fixed sleep); fails after `timeoutMs`. */
export async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** GET /metrics as text (asserts a 200). */
export async function metrics(base: string): Promise<string> {
  const res = await request(base, 'GET', '/metrics');
  assert.equal(res.status, 200);
  return String(res.body);
}

/** The value of an unlabelled sample in Prometheus text; fails when it is missing. */
export function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} missing`);
  return Number(line.slice(name.length + 1));
}
