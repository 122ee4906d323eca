/**
 * The suite-wide canary and isolation check every `startStack` runs when it closes: proven to catch
 * planted leaks (a credential sent to the wrong upstream, then hidden by a stats reset; a canary in a
 * response, in a trace, in a log line), so a clean close means something.
 */
import { describe, expect, it } from 'vitest';
import { startStack } from './support/stack.js';

describe('canary and isolation check of every stack', () => {
  it('gives each upstream a distinct canary credential, and a clean stack closes without error', async () => {
    const stack = await startStack();
    const r = await stack.gql('{ product(id: "1") { id title price { sale { amount } } } }');
    expect(r.body.errors).toBeUndefined();
    const values = Object.values(stack.credentials);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toMatch(/^canary-[A-Za-z]+-[0-9a-f]{16}$/);
    // The gateway was given them: pricing received its canary.
    expect(stack.sandbox.upstream('pricing').stats().requests.map((q) => q.headers.authorization)).toEqual([`Bearer ${stack.credentials.pricingToken}`]);
    await stack.close();
  });

  it('finds a credential sent to the wrong upstream (even after a reset), and canaries in a response, a trace and a log line', async () => {
    const stack = await startStack();
    const c = stack.credentials;
    // inventory's key sent to pricing, then the sandbox's stats reset: the stack heard it anyway.
    await fetch(`${stack.sandbox.urls.pricing}/v1/prices?skus=X`, { headers: { 'x-api-key': c.inventoryApiKey! } });
    stack.resetStats();
    // tax's password echoed by a GraphQL error (an invalid variable value): in the response and its trace.
    const echoed = await stack.gql('query Planted($n: Int!) { product(id: "1") { recommendations(first: $n) { id } } }', { n: c.taxPassword }, { 'x-request-id': 'planted' });
    expect(echoed.status).toBe(400);
    // shipping's Basic credential written to a log line.
    stack.gateway.logger.warn({ note: Buffer.from(`${c.shippingClientId}:${c.shippingClientSecret}`).toString('base64') }, 'planted');
    const failure = await stack.close().then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(failure?.split('\n').sort()).toEqual(
      [
        'canary or isolation check failed:',
        "pricing received inventory's credential in x-api-key (GET /v1/prices)",
        "tax's credential is in response 400 planted",
        "tax's credential is in /traces/planted (200)",
        "shipping's credential is in the logs",
      ].sort(),
    );
  });
});
