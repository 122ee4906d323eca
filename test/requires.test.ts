/**
 * `@requires`: a module that extends a type declares beside its field which parent fields it reads,
 * and select pushdown is derived from the composed schema (no central table kept by the type's owner).
 */
import { parse, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { composeGatewaySchema } from '../src/main.js';
import { projectSelection, withRequirements, type Projection } from '../src/projection.js';
import { composeSchema } from '../src/schema.js';
import { PRODUCT_PROJECTION } from '../upstreams/catalog.js';

const OWNER = `
  directive @requires(fields: String!) on FIELD_DEFINITION
  type Query { things: [Thing!]! }
  type Thing { id: ID! sku: String! title: String! }
`;
const OWN: Projection = { always: ['id'], fields: { id: ['id'], sku: ['sku'], title: ['name'] } };

function infoFor(schema: ReturnType<typeof composeSchema>, source: string) {
  const op = parse(source).definitions[0] as OperationDefinitionNode;
  return { schema, fieldNodes: [op.selectionSet.selections[0] as FieldNode], fragments: {}, variableValues: {} };
}

describe('@requires', () => {
  it('completes the owner projection with what every extending module requires, in the composed gateway schema', () => {
    const p = withRequirements(composeGatewaySchema(), 'Product', PRODUCT_PROJECTION);
    expect(p.fields).toMatchObject({ price: ['sku'], availability: ['sku'], shippingEstimate: ['sku'], reviews: ['id'], recommendations: ['id'] });
    // Worked out once per schema: the same object (so projectSelection's memo holds).
    const schema = composeGatewaySchema();
    expect(withRequirements(schema, 'Product', PRODUCT_PROJECTION)).toBe(withRequirements(schema, 'Product', PRODUCT_PROJECTION));
  });

  it("maps a required field through the owner's own mapping; a field without a declaration fetches the whole object", () => {
    const schema = composeSchema(
      [
        { name: 'owner', sdl: OWNER },
        { name: 'promo', sdl: 'extend type Thing { promo: String @requires(fields: "sku title") undeclared: String }' },
      ],
      [],
    );
    const p = withRequirements(schema, 'Thing', OWN);
    expect(p.fields.promo).toEqual(['name', 'sku']);
    expect(projectSelection(infoFor(schema, '{ things { promo } }'), [], p)).toEqual(['id', 'name', 'sku']);
    expect(projectSelection(infoFor(schema, '{ things { id undeclared } }'), [], p)).toBeUndefined();
  });

  it('refuses a requirement the parent type does not have, or a nested selection, at composition', () => {
    const bad = (sdl: string) => () => composeSchema([{ name: 'owner', sdl: OWNER }, { name: 'x', sdl }], []);
    expect(bad('extend type Thing { promo: String @requires(fields: "skew") }')).toThrow('Thing.promo: @requires names "skew", which Thing does not have.');
    expect(bad('extend type Thing { promo: String @requires(fields: "sku { a }") }')).toThrow(/field names only/);
    expect(bad('extend type Thing { promo: String @requires(fields: "") }')).toThrow(/names no field/);
  });
});
