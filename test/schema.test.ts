/** The composed schema: the committed schema.graphql is current, and every client operation validates. */
import { readdirSync, readFileSync } from 'node:fs';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { composeGatewaySchema } from '../src/main.js';
import { printComposedSchema } from '../src/schema.js';

describe('schema', () => {
  const schema = composeGatewaySchema();

  it('schema.graphql is the current composition (run `npm run schema:print`)', () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printComposedSchema(schema));
  });

  it('every operation in operations/ validates against it', () => {
    const dir = new URL('../operations/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.graphql'));
    expect(files).toEqual(expect.arrayContaining(['ProductPage.graphql', 'CategoryPage.graphql', 'CheckoutQuote.graphql']));
    for (const f of files) {
      const errors = validate(schema, parse(readFileSync(new URL(f, dir), 'utf8')));
      expect(errors.map((e) => `${f}: ${e.message}`)).toEqual([]);
    }
  });

  it('keeps the accounts upstream\'s sensitive fields out of the schema', () => {
    const sdl = printComposedSchema(schema);
    for (const field of ['password', 'ssn', 'bank', 'crypto', 'macAddress', ' ip:']) expect(sdl).not.toContain(field);
  });
});
