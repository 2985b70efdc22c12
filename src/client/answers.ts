import { BrokerError } from './errors.js';
import type { BrokerEvent, Profile, UserAccount } from './types.js';

/**
 * Checks of Broker's answers, where they enter the program: a proxy's error page or another
 * server answering 200 becomes a `bad_response` error here, not an `undefined` far away.
 */

type Fields = Record<string, unknown>;

function bad(what: string): BrokerError {
  return new BrokerError(`unexpected answer: ${what}`, { status: 200, code: 'bad_response' });
}

function object(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not an object`);
  return value as Fields;
}

function string(fields: Fields, name: string, what: string): string {
  const value = fields[name];
  if (typeof value !== 'string') throw bad(`${what}.${name} is not a string`);
  return value;
}

export function readProfile(value: unknown): Profile {
  const fields = object(value, 'the user');
  const roles = fields.roles;
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) throw bad('the user.roles is not a list of names');
  return { id: string(fields, 'id', 'the user'), username: string(fields, 'username', 'the user'), info: fields.info ?? null, roles };
}

export function readUserAccount(value: unknown): UserAccount {
  const fields = object(value, 'the user');
  if (typeof fields.disabled !== 'boolean') throw bad('the user.disabled is not a boolean');
  if (typeof fields.created_at !== 'number') throw bad('the user.created_at is not a number');
  return { ...readProfile(fields), disabled: fields.disabled, created_at: fields.created_at };
}

export function readUserList(value: unknown): { users: UserAccount[]; next?: string } {
  const fields = object(value, 'the user list');
  if (!Array.isArray(fields.users)) throw bad('the user list has no users');
  const users = fields.users.map(readUserAccount);
  const next = fields.next;
  if (next !== null && next !== undefined && typeof next !== 'string') throw bad('the user list.next is not an id');
  return typeof next === 'string' ? { users, next } : { users };
}

/** A list of events (history, pending): objects with an id and a name; the rest as Broker sent it. */
export function readEvents(value: unknown): BrokerEvent[] {
  if (!Array.isArray(value)) throw bad('the events are not a list');
  for (const event of value) {
    const fields = object(event, 'an event');
    string(fields, 'id', 'an event');
    string(fields, 'event', 'an event');
  }
  return value as BrokerEvent[];
}
