import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { AppError } from '../errors/app-error.js';

/**
 * Validates an untrusted request body (or query) against a schema, compiled once per schema.
 * The first problem becomes a 400 naming the field, e.g. "timestamp must be number".
 */
export function bodyReader<S extends TSchema>(schema: S): (value: unknown) => Static<S> {
  const validator = Compile(schema);
  return (value) => {
    if (validator.Check(value)) return value as Static<S>;
    if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new AppError('invalid_input', 'The body must be a JSON object.');
    }
    const first = [...validator.Errors(value)].find((e) => e.keyword !== 'boolean');
    if (!first) throw new AppError('invalid_input');
    if (first.keyword === 'additionalProperties') {
      const extra = (first.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      throw new AppError('invalid_input', `unknown field ${extra.map((f) => JSON.stringify(f)).join(', ')}`);
    }
    if (first.keyword === 'required') {
      const missing = (first.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      throw new AppError('invalid_input', `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required`);
    }
    const field = first.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'body';
    throw new AppError('invalid_input', `${field} ${first.message}`);
  };
}
