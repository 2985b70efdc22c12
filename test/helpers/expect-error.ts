import assert from 'node:assert/strict';
import { type ErrorCode, errorCatalogue } from '../../src/errors/error-catalogue.js';
import type { JsonResponse } from './api.js';

/** Anything that would betray internals in a response: stack frames, paths, source files. */
export const STACK_OR_PATH =
  /\n\s*at |\bat \S+ \(|\(\S+:\d+:\d+\)|\/work\/|\/home\/|\/tmp\/|node_modules|\.ts\b|\.js:\d|file:\/\//;

/**
 * Asserts an error response: its status, JSON, a body of exactly {error, code} with the
 * catalogue's status for that code, and no internals anywhere in it. Returns the message.
 */
export function expectError(res: JsonResponse, status: number, code: ErrorCode, what = ''): string {
  const text = JSON.stringify(res.body);
  const label = `${what} -> ${res.status} ${text.slice(0, 300)}`;
  assert.equal(res.status, status, label);
  assert.match(String(res.headers.get('content-type')), /^application\/json/, label);
  const body = res.body as Record<string, unknown>;
  assert.equal(typeof body, 'object', label);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], label);
  assert.equal(body.code, code, label);
  assert.equal(errorCatalogue[code].status, status, label);
  const message = body.error;
  assert.ok(typeof message === 'string' && message.length > 0, label);
  assert.doesNotMatch(text, STACK_OR_PATH, label);
  return message;
}

/** A name no other test uses. */
export const unique = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;
