/**
 * End users by JWT from a JWKS URL (a real HTTP server serving the key set): a token signed by a key
 * of the set identifies its user, and `viewer` is that user's own profile; a token signed by another
 * key, with the wrong issuer, or HS256 when only the JWKS is configured, is refused with 401.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { loadSecurityConfig } from '../src/security/index.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let jwksServer: Server;
let jwksHits = 0;
let signing: CryptoKey;
let stranger: CryptoKey;
let stack: Stack;

const sign = (key: CryptoKey, sub: string, opts: { kid?: string; iss?: string } = {}) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
    .setSubject(sub)
    .setIssuer(opts.iss ?? 'https://id.example.test')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signing = pair.privateKey;
  stranger = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    jwksHits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
  stack = await startStack({ env: { JWKS_URL: jwksUrl, JWT_ISSUER: 'https://id.example.test' } });
});
afterAll(async () => {
  await stack?.close();
  await new Promise<void>((r) => jwksServer.close(() => r()));
});

describe('JWKS', () => {
  it('a token signed by a key of the set is its user; viewer is that user\'s own profile', async () => {
    const r1 = await stack.gql(OPERATIONS.Viewer, {}, { authorization: `Bearer ${await sign(signing, '3')}` });
    expect(r1.body.errors).toBeUndefined();
    expect(r1.body.data.viewer.id).toBe('3');
    const r2 = await stack.gql(OPERATIONS.Viewer, {}, { authorization: `Bearer ${await sign(signing, '5')}` });
    expect(r2.body.data.viewer.id).toBe('5');
    expect(r2.body.data.viewer.email).not.toBe(r1.body.data.viewer.email);
    // The key set was fetched once and cached.
    expect(jwksHits).toBe(1);
  });

  it('refuses another key, the wrong issuer, an unknown kid, and HS256 when only the JWKS is configured', async () => {
    const bad = [
      await sign(stranger, '3'),
      await sign(signing, '3', { iss: 'https://evil.example.test' }),
      await sign(stranger, '3', { kid: 'k2' }),
      await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '3'),
    ];
    for (const t of bad) {
      const r = await stack.gql(OPERATIONS.Viewer, {}, { authorization: `Bearer ${t}` });
      expect(r.status).toBe(401);
      expect(r.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(r.body.data ?? null).toBeNull();
    }
  });

  it('JWKS_URL is validated: a URL, https outside development', () => {
    expect(() => loadSecurityConfig({ JWKS_URL: 'not a url' }, 'development')).toThrow(/JWKS_URL is not a URL/);
    expect(() => loadSecurityConfig({ JWKS_URL: 'http://id.example.test/jwks' }, 'production')).toThrow(/https/);
    expect(loadSecurityConfig({ JWKS_URL: 'https://id.example.test/jwks' }, 'production').hs256).toBe(false);
    expect(loadSecurityConfig({ JWKS_URL: 'https://id.example.test/jwks', JWT_SECRET: 'x'.repeat(32) }, 'production').hs256).toBe(true);
  });
});
