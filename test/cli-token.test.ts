/**
 * `switchboard token` through the real binary: what it mints, `jwt()` accepts; a short secret is
 * refused with the way to make a good one; `serve --secret` and `connect --token` close the loop.
 */
import { describe, expect, it } from 'vitest';
import { jwt } from '../src/server/index.js';
import { createTestScope } from './helpers.js';
import { cleanEnv, runCliToEnd, serveCli } from './cli-fixtures.js';

const scope = createTestScope();
const SECRET = 'a-development-secret-of-40-bytes-0123456';

describe('switchboard token', () => {
  it('mints an HS256 token that jwt() verifies, with sub, aud, iss, ttl and extra claims', async () => {
    const run = await runCliToEnd(scope, ['token', '--secret', SECRET, '--sub', 'alice', '--ttl', '2h', '--aud', 'chat', '--iss', 'dev', '--claim', 'admin=true', '--claim', 'name=Alice']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = await jwt({ secret: SECRET, algorithms: ['HS256'], audience: 'chat', issuer: 'dev' }).verify(run.stdout.trim());
    expect(claims).toMatchObject({ sub: 'alice', aud: 'chat', iss: 'dev', admin: true, name: 'Alice' });
    expect(claims!.exp! - claims!.iat!).toBe(7200);
    expect(Math.abs(claims!.iat! - Date.now() / 1000)).toBeLessThan(60);
    // Another secret, audience or issuer: refused.
    expect(await jwt({ secret: `${SECRET}x`, algorithms: ['HS256'] }).verify(run.stdout.trim())).toBeNull();
    expect(await jwt({ secret: SECRET, algorithms: ['HS256'], audience: 'other' }).verify(run.stdout.trim())).toBeNull();
  });

  it('takes the secret from SWITCHBOARD_JWT_SECRET; the default lifetime is one hour', async () => {
    const run = await runCliToEnd(scope, ['token', '--sub', 'bob'], { env: cleanEnv({ SWITCHBOARD_JWT_SECRET: SECRET }) });
    expect(run.code).toBe(0);
    const claims = await jwt({ secret: SECRET, algorithms: ['HS256'] }).verify(run.stdout.trim());
    expect(claims!.exp! - claims!.iat!).toBe(3600);
    expect(claims!.aud).toBeUndefined();
  });

  it('refuses a secret shorter than 32 bytes (exit 2), saying how to generate one; nothing on stdout', async () => {
    const run = await runCliToEnd(scope, ['token', '--secret', 'x'.repeat(31), '--sub', 'alice']);
    expect(run).toEqual({ code: 2, stdout: '', stderr: 'switchboard: the secret is 31 bytes; HS256 needs at least 32 (RFC 7518 §3.2). Generate one with: openssl rand -base64 32\n' });
    for (const args of [['--sub', 'alice'], ['--secret', SECRET], ['--secret', SECRET, '--sub', 'a', '--ttl', '0'], ['--secret', SECRET, '--sub', 'a', '--claim', 'exp=1'], ['--secret', SECRET, '--sub', 'a', 'extra']]) {
      const bad = await runCliToEnd(scope, ['token', ...args]);
      expect({ args, code: bad.code, stdout: bad.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(bad.stderr).toMatch(/^switchboard: /);
    }
  });

  it('serve --secret admits only tokens signed with it; connect --token sends one', async () => {
    const server = await serveCli(scope, ['--secret', SECRET]);
    const minted = await runCliToEnd(scope, ['token', '--secret', SECRET, '--sub', 'carol']);
    const who = await runCliToEnd(scope, ['connect', server.url, '--token', minted.stdout.trim(), '--call', 'whoami']);
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ identity: { sub: 'carol' } });
    const anonymous = await runCliToEnd(scope, ['connect', server.url, '--call', 'whoami']);
    expect(anonymous).toMatchObject({ code: 1, stdout: '' });
    expect(anonymous.stderr).toMatch(/^error UNAUTHORIZED: ws:\/\/127\.0\.0\.1:\d+\/ws: token refused: no-token \(HTTP 401\)/);
    const forged = await runCliToEnd(scope, ['token', '--secret', `${SECRET}-other`, '--sub', 'mallory']);
    const refused = await runCliToEnd(scope, ['connect', server.url, '--call', 'whoami'], { env: cleanEnv({ SWITCHBOARD_TOKEN: forged.stdout.trim() }) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error UNAUTHORIZED: /);
  });
});
