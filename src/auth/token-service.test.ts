import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import { TokenService } from './token-service.js';

const secret = 's'.repeat(40);
const payloadOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;

test('a verified token is remembered but still expires; a changed byte is verified again', async () => {
  // 2 s: long enough to verify it twice on a loaded machine, short enough to wait for its expiry.
  const tokens = new TokenService(secret, 2);
  const token = await tokens.issue({ userId: 'user-1', sessionId: 's-1', gen: 2, roles: ['editor'] });
  const exp = payloadOf(token).exp as number;
  const { caller, ...claims } = (await tokens.verify(token)) ?? { caller: undefined };
  assert.deepEqual(claims, { sub: 'user-1', exp, sid: 's-1', gen: 2, roles: ['editor'] });
  assert.equal(caller?.userId, 'user-1');
  assert.equal((await tokens.verify(token))?.sub, 'user-1', 'cached');
  const [header, payload, signature] = token.split('.');
  const flipped = `${header}.${payload}.${signature?.slice(0, -2)}${signature?.endsWith('AA') ? 'BB' : 'AA'}`;
  assert.equal(await tokens.verify(flipped), undefined);
  assert.equal(await new TokenService('t'.repeat(40), 2).verify(token), undefined, 'another secret');
  // Wait for the clock to pass the expiry (a deadline, not a guess), then the cached entry must not help.
  while (Date.now() / 1000 < exp + 0.01) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(await tokens.verify(token), undefined, 'expired, even though it was cached');
});

test('the claims: the original ones plus iat, sid, gen and roles', async () => {
  const token = await new TokenService(secret, 3600).issue({ userId: 'u', sessionId: 's', gen: 0, roles: [] });
  const claims = payloadOf(token);
  assert.deepEqual(Object.keys(claims).sort(), ['company', 'exp', 'gen', 'iat', 'roles', 'sid', 'sub']);
  assert.equal(claims.company, '');
  assert.equal((claims.exp as number) - (claims.iat as number), 3600);
});

test('a token living longer than EXPIRY (issued under a larger one) is refused; one without our claims is read as generation 0, no roles', async () => {
  const long = await new TokenService(secret, 7200).issue({ userId: 'u', sessionId: 's', gen: 0, roles: [] });
  assert.equal(await new TokenService(secret, 3600).verify(long), undefined);
  assert.equal((await new TokenService(secret, 7200).verify(long))?.sub, 'u');
  const key = new TextEncoder().encode(secret);
  const original = await new SignJWT({ company: '' }).setProtectedHeader({ alg: 'HS256' }).setSubject('old').setIssuedAt().setExpirationTime('60s').sign(key);
  const { caller, ...claims } = (await new TokenService(secret, 3600).verify(original)) ?? { caller: undefined };
  assert.deepEqual(claims, { sub: 'old', exp: payloadOf(original).exp, sid: undefined, gen: 0, roles: [] });
  assert.equal(caller?.admin, false);
  const badRoles = await new SignJWT({ roles: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setIssuedAt().setExpirationTime('60s').sign(key);
  assert.equal(await new TokenService(secret, 3600).verify(badRoles), undefined, 'roles must be a list of strings');
});
