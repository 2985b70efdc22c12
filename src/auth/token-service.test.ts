import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenService } from './token-service.js';

test('a verified token is remembered but still expires; a changed byte is verified again', async () => {
  // Two seconds, not one: `exp` is whole seconds (issued second + EXPIRY), so a one-second token
  // issued late in a second can expire before the first verify below on a busy machine.
  const tokens = new TokenService('s'.repeat(40), 2);
  const token = await tokens.issue('user-1');
  assert.equal(await tokens.verify(token), 'user-1');
  assert.equal(await tokens.verify(token), 'user-1', 'cached');
  const [header, payload, signature] = token.split('.');
  const flipped = `${header}.${payload}.${signature?.slice(0, -2)}${signature?.endsWith('AA') ? 'BB' : 'AA'}`;
  assert.equal(await tokens.verify(flipped), undefined);
  assert.equal(await new TokenService('t'.repeat(40), 2).verify(token), undefined, 'another secret');
  const exp = (JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as { exp: number }).exp;
  // Wait for the clock to pass the expiry (a deadline, not a guess), then the cached entry must not help.
  while (Date.now() / 1000 < exp + 0.01) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await tokens.verify(token), undefined, 'expired, even though it was cached');
});
