/**
 * 8. Token check: what authenticating a request costs, in this process (no HTTP): the verified-
 * token cache plus the revocation lookups, with `revoked` users and sessions revoked and
 * `tokens` distinct valid tokens presented in turn, each as a fresh `Authorization` header
 * string (as the HTTP parser makes one per request) from which the token is taken as a route
 * takes it. Target: ≤ 2 µs per check. The first check of each token (the HMAC) is reported apart.
 * Measured as this process's CPU time (user + system), so that other processes competing for
 * the cores do not count; the wall time is reported too.
 */
import { randomUUID } from 'node:crypto';
import { Authenticator } from '../../src/auth/authenticator.js';
import { Revocations } from '../../src/auth/revocations.js';
import { TokenService } from '../../src/auth/token-service.js';
import { tokenOfHeader } from '../../src/http/authenticate.js';
import type { Scenario } from '../scenario-types.js';

export const auth: Scenario = {
  name: 'auth',
  title: 'Token check',
  brokerOnly: true,
  timeoutMs: () => 120_000,
  async run(ctx) {
    const p = ctx.params.auth;
    const tokens = new TokenService(randomUUID() + randomUUID(), 3600);
    const revocations = new Revocations(3900);
    const now = Date.now() / 1000;
    for (let i = 0; i < p.revoked; i++) {
      revocations.apply({ id: 2 * i, at: now, userId: randomUUID(), gen: 3 });
      revocations.apply({ id: 2 * i + 1, at: now, userId: randomUUID(), sessionId: randomUUID() });
    }
    const authenticator = new Authenticator(tokens, revocations);
    const issued = await Promise.all(
      Array.from({ length: p.tokens }, () => tokens.issue({ userId: randomUUID(), sessionId: randomUUID(), gen: 0, roles: ['editor'] })),
    );
    // A request's header is a new flat string each time (no check may hit a cached string hash).
    const fresh = (t: string): string => Buffer.from(`Bearer ${t}`).toString('latin1');
    const cpuUs = (): number => {
      const u = process.cpuUsage();
      return u.user + u.system;
    };
    let cpu0 = cpuUs();
    for (const t of issued) await authenticator.authenticate(tokenOfHeader(fresh(t)));
    const firstUs = (cpuUs() - cpu0) / issued.length;
    const headers = Array.from({ length: p.iterations }, (_, i) => fresh(issued[i % issued.length] as string));
    // As a route does: `await` the answer (a cached token's comes without a promise of its own).
    cpu0 = cpuUs();
    const wall0 = process.hrtime.bigint();
    for (const h of headers) await authenticator.authenticate(tokenOfHeader(h));
    const wallUs = Number(process.hrtime.bigint() - wall0) / 1000 / headers.length;
    const cachedUs = (cpuUs() - cpu0) / headers.length;
    const label = `Token check with revocations (${p.revoked} users + ${p.revoked} sessions revoked)`;
    ctx.out.figure('auth.check_us', `${label}: CPU`, 'µs', cachedUs, null);
    ctx.out.figure('auth.check_wall_us', `${label}: wall`, 'µs', wallUs, null);
    ctx.out.figure('auth.first_check_us', 'First check of a token (HMAC verify): CPU', 'µs', firstUs, null);
    ctx.log(`token check: ${cachedUs.toFixed(2)} µs CPU (${wallUs.toFixed(2)} wall), first check ${firstUs.toFixed(1)} µs`);
  },
};
