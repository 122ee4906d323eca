/**
 * Credential isolation, against the real sandbox recording every request's headers: with a distinct
 * canary credential per upstream, over a traffic mix (every client operation, errors, hostile ids,
 * rotation, a redirect), no upstream ever receives another upstream's credential; a redirect to another
 * origin is not followed, so it carries no credential; the accounts upstream's sensitive fields never
 * reach a response or a log line.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxCredentials } from '../sandbox/index.js';
import { userById } from '../sandbox/data.js';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { hashApiKey } from '../src/security/index.js';
import { CREDENTIAL_VARIABLES, DEFINITIONS, secretRefsOf } from './support/definitions.js';
import { canaryEnv, CREDENTIAL_OWNER as OWNER, OPERATIONS, startStack, type Stack } from './support/stack.js';

const canary = (name: string) => `canary-${name}-${randomBytes(6).toString('hex')}`;
/** A canary for every credential the sandbox accepts, by credential key. */
const CREDS: SandboxCredentials = Object.fromEntries(Object.keys(OWNER).map((k) => [k, canary(k)]));
/** The same under the gateway's variable names, plus a canary for any variable only a definition declares. */
const CRED_ENV = canaryEnv(CREDS);
/** Each credential variable's value and owner. */
const VARIABLES = CREDENTIAL_VARIABLES.map((v) => ({ ...v, value: CRED_ENV[v.env]! }));
const CLIENT_KEY = 'isolation-client-key-0001';

let stack: Stack;
let elsewhere: Server;
let elsewhereUrl: string;
const elsewhereRequests: { url: string; headers: IncomingHttpHeaders }[] = [];

/** Every form a header could carry a secret in: as sent, and base64-decoded (HTTP Basic). */
function headerTexts(headers: Record<string, string>): string[] {
  const out: string[] = [];
  for (const v of Object.values(headers)) {
    out.push(v);
    const m = /^Basic\s+(.+)$/i.exec(v);
    if (m) out.push(Buffer.from(m[1]!, 'base64').toString('utf8'));
  }
  return out;
}

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    elsewhereRequests.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"prices":[]}');
  });
  await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
  elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
  stack = await startStack({
    sandbox: { credentials: CREDS },
    env: {
      CACHE: 'off',
      LOG_LEVEL: 'debug',
      CLIENTS: JSON.stringify([{ name: 'web', keySha256: hashApiKey(CLIENT_KEY), permissions: ['pii', 'trace'] }]),
      ...CRED_ENV,
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await new Promise<void>((r) => elsewhere.close(() => r()));
});

const H = { 'x-api-key': CLIENT_KEY };

describe('credential isolation', () => {
  it('over a traffic mix, no upstream receives another upstream\'s credential, and each receives its own', async () => {
    stack.resetStats();
    const token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    const auth = { ...H, authorization: `Bearer ${token}` };
    const answers = await Promise.all([
      ...['1', '2', '3', '30', '194', '999'].map((id) => stack.gql(OPERATIONS.ProductPage, { id, country: 'US', postcode: '10001' }, auth)),
      stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 20 }, auth),
      stack.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 5 }, H),
      stack.gql(OPERATIONS.CheckoutQuote, { lines: [{ productId: '1', quantity: 2 }, { productId: '5', quantity: 1 }], country: 'GB', postcode: 'SW1A 1AA' }, auth),
      stack.gql(OPERATIONS.Viewer, {}, auth),
      ...['../users/1', '1?select=password', 'a%0d%0aX-Injected: 1'].map((id) => stack.gql(OPERATIONS.ProductPage, { id, country: 'US', postcode: '10001' }, auth)),
    ]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => a.body.data?.product?.price).length).toBeGreaterThanOrEqual(5);

    const received: Record<string, string[]> = {};
    let requests = 0;
    for (const [name, u] of Object.entries(stack.sandbox.upstreams)) {
      received[name] = u.stats().requests.flatMap((r) => headerTexts(r.headers));
      requests += u.stats().requests.length;
    }
    expect(requests).toBeGreaterThan(20);
    for (const { env, owner, value } of VARIABLES) {
      for (const [name, texts] of Object.entries(received)) {
        const carries = texts.some((t) => t.includes(value));
        if (name !== owner) expect(carries, `${env} sent to ${name}`).toBe(false);
      }
    }
    // Each upstream the mix reaches that has a credential got its own (so the check above compared real traffic).
    const reached = DEFINITIONS.filter((d) => secretRefsOf(d).length > 0 && (received[d.name]?.length ?? 0) > 0).map((d) => d.name);
    expect(reached.length).toBeGreaterThanOrEqual(7);
    for (const owner of reached) {
      const own = VARIABLES.filter((v) => v.owner === owner).map((v) => v.value);
      expect(received[owner]!.some((t) => own.some((v) => t.includes(v))), owner).toBe(true);
    }
    // The OAuth2 access tokens shipping issued reach shipping only.
    const accessTokens = stack.sandbox.upstream('shipping')
      .stats()
      .requests.filter((r) => r.path === '/quotes')
      .map((r) => r.headers.authorization!.replace(/^Bearer /, ''));
    expect(accessTokens.length).toBeGreaterThan(0);
    for (const [name, texts] of Object.entries(received)) {
      if (name !== 'shipping') expect(texts.some((t) => accessTokens.some((a) => t.includes(a))), name).toBe(false);
    }
    // Catalog has no credential: it gets no authorization header at all.
    expect(stack.sandbox.upstream('catalog').stats().requests.every((r) => !('authorization' in r.headers) && !('x-api-key' in r.headers))).toBe(true);
    // No canary is ever shown to a client or written to a log (debug level included).
    const shown = answers.map((a) => a.text).join('\n') + stack.logText();
    for (const v of Object.values(CREDS)) expect(shown).not.toContain(v);
  });

  it('a redirect from an upstream to another origin is not followed: the other origin is never called', async () => {
    stack.resetStats();
    elsewhereRequests.length = 0;
    stack.sandbox.upstream('pricing').setFaults({ redirect: elsewhereUrl });
    try {
      const r = await stack.gql(OPERATIONS.ProductPage, { id: '7', country: 'US', postcode: '10001' }, H);
      expect(r.status).toBe(200);
      expect(r.body.data.product.id).toBe('7');
      expect(r.body.data.product.price).toBeNull();
      const codes = r.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code);
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set(['UPSTREAM_ERROR']));
      // The client sees neither the redirect target nor the upstream's URL.
      expect(r.text).not.toContain(elsewhereUrl);
      expect(r.text).not.toContain(stack.sandbox.urls.pricing);
      const redirects = stack.sandbox.upstream('pricing').stats().requests;
      expect(redirects.length).toBeGreaterThan(0);
      expect(redirects.every((q) => q.status === 302)).toBe(true);
    } finally {
      stack.sandbox.upstream('pricing').setFaults(null);
    }
    expect(elsewhereRequests).toEqual([]);
  });

  it('upstream error bodies never reach clients', async () => {
    stack.sandbox.upstream('inventory').setFaults({ error: { probability: 1, status: 500 } });
    try {
      const r = await stack.gql(OPERATIONS.ProductPage, { id: '8', country: 'US', postcode: '10001' }, H);
      expect(r.body.data.product.availability).toBeNull();
      expect(r.text).not.toContain('injected fault');
      expect(r.text).not.toContain(stack.sandbox.urls.inventory);
    } finally {
      stack.sandbox.upstream('inventory').setFaults(null);
    }
  });
});

describe("accounts' sensitive fields", () => {
  it('are not in the schema: asking for them is a validation error, and accounts is not called', async () => {
    const token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    stack.resetStats();
    for (const f of ['password', 'ssn', 'bank { iban }', 'crypto { wallet }', 'ip', 'macAddress']) {
      const r = await stack.gql(`{ viewer { id ${f} } }`, {}, { ...H, authorization: `Bearer ${token}` });
      expect(r.status).toBe(400);
      expect(r.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    expect(stack.sandbox.upstream('accounts').stats().total).toBe(0);
  });

  it('never reach a response or a log line, whatever is asked', async () => {
    const user = userById.get(2)! as unknown as Record<string, unknown> & { bank: Record<string, string>; crypto: Record<string, string> };
    const secrets = [user.password, user.ssn, user.ip, user.macAddress, user.bank.iban, user.bank.cardNumber, user.crypto.wallet].map(String);
    expect(secrets.every((s) => s.length > 4)).toBe(true);
    const token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    const auth = { ...H, authorization: `Bearer ${token}` };
    const texts: string[] = [];
    for (const q of [OPERATIONS.Viewer, '{ viewer { __typename id firstName shippingAddress { line1 city } } }', '{ viewer { ...on Viewer { email } } }']) {
      const r = await stack.gql(q, {}, auth);
      expect(r.body.errors).toBeUndefined();
      texts.push(r.text);
    }
    expect(JSON.parse(texts[0]!).data.viewer.id).toBe('2');
    const shown = texts.join('\n') + stack.logText();
    for (const s of secrets) expect(shown).not.toContain(s);
  });
});
