/**
 * Hostile inputs that used to pass (issue 17): the cost limit with variable and argument defaults,
 * checkout quantities and money, rate limits counted per operation, and argument lengths. Against a
 * real sandbox and a real gateway; every refusal is checked to have made no upstream call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { composeGatewaySchema } from '../src/main.js';
import { costLimit, operationCost, SECURITY_DEFAULTS } from '../src/security/index.js';
import { startStack, type Stack } from './support/stack.js';

function totalCalls(stack: Stack): number {
  return Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('cost from coerced arguments (variable and argument defaults)', () => {
  const schema = composeGatewaySchema();
  const withDefault = 'query Q($n: Int = 100) { categories { products(first: $n) { nodes { id reviews(first: $n) { rating } } } } }';
  const literal = 'query Q { categories { products(first: 100) { nodes { id reviews(first: 100) { rating } } } } }';

  it('a variable default is priced as the value it gives, as a sent variable or a literal is', () => {
    const byDefault = operationCost(schema, parse(withDefault), 'Q', {}, SECURITY_DEFAULTS.defaultListSize);
    const sent = operationCost(schema, parse(withDefault), 'Q', { n: 100 }, SECURITY_DEFAULTS.defaultListSize);
    const written = operationCost(schema, parse(literal), 'Q', {}, SECURITY_DEFAULTS.defaultListSize);
    expect(byDefault).toBe(written);
    expect(sent).toBe(written);
    expect(byDefault).toBeGreaterThan(SECURITY_DEFAULTS.maxCost);
    // A sent value wins over the default.
    expect(operationCost(schema, parse(withDefault), 'Q', { n: 1 }, SECURITY_DEFAULTS.defaultListSize)).toBeLessThan(written);
  });

  it('an omitted size argument is priced at its schema default, not the default list size', () => {
    const field = (composeGatewaySchema().getType('Category') as import('graphql').GraphQLObjectType).getFields().products!;
    const schemaDefault = field.args.find((a) => a.name === 'first')!.defaultValue as number;
    expect(schemaDefault).not.toBe(SECURITY_DEFAULTS.defaultListSize);
    const cost = operationCost(schema, parse('{ category(slug: "beauty") { products { nodes { id } } } }'), null, {}, SECURITY_DEFAULTS.defaultListSize);
    // category 1 + products 1 + nodes (one per item) + id per item.
    expect(cost).toBe(1 + 1 + schemaDefault + schemaDefault);
  });

  it('the memo keys on the coerced values: the default and the sent value share an entry, other values do not', () => {
    const limit = costLimit({ maxCost: SECURITY_DEFAULTS.maxCost, defaultListSize: SECURITY_DEFAULTS.defaultListSize });
    const doc = parse(withDefault);
    const verdicts = [{ n: 1 }, {}, { n: 100 }, { n: 1 }, {}].map((v) => limit(schema, doc, 'Q', v)?.extensions.code ?? 'ok');
    expect(verdicts).toEqual(['ok', 'COST_LIMIT_EXCEEDED', 'COST_LIMIT_EXCEEDED', 'ok', 'COST_LIMIT_EXCEEDED']);
  });

  it('through the gateway: the defaulted operation is refused before any upstream call', async () => {
    stack.resetStats();
    const r = await stack.gql(withDefault);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].extensions.code).toBe('COST_LIMIT_EXCEEDED');
    expect(r.body.errors[0].extensions.cost).toBe(operationCost(schema, parse(literal), 'Q', {}, SECURITY_DEFAULTS.defaultListSize));
    expect(totalCalls(stack)).toBe(0);
  });
});
