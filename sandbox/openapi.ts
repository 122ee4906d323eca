/**
 * OpenAPI 3.1 documents of the sandbox upstreams: each upstream's file gives its paths, schemas and
 * security scheme (an `OpenApiPart`); this module assembles the document and offers the small
 * builders those files use. `inferSchema` derives a schema from the data set itself (a field is
 * required when every record has it), so the Product and User schemas are accurate by construction.
 */
import type { SandboxUpstreamDescriptor } from './descriptor.js';

export type Schema = Record<string, unknown>;

/** An upstream's share of its document. */
export interface OpenApiPart {
  paths: Record<string, Schema>;
  schemas: Record<string, Schema>;
  /** One security scheme (by name), absent for an upstream without credentials. */
  security?: Record<string, Schema>;
}

/** Infers a JSON Schema (2020-12 subset) describing every sample value. */
export function inferSchema(samples: readonly unknown[]): Schema {
  const types = new Set<string>();
  for (const s of samples) {
    if (s === null) types.add('null');
    else if (Array.isArray(s)) types.add('array');
    else if (typeof s === 'number') types.add(Number.isInteger(s) ? 'integer' : 'number');
    else types.add(typeof s);
  }
  if (types.has('integer') && types.has('number')) types.delete('integer');
  const schema: Schema = {};
  const list = [...types];
  if (list.length === 1) schema.type = list[0];
  else if (list.length > 1) schema.type = list;
  if (types.has('object')) {
    const objs = samples.filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null && !Array.isArray(s));
    const keys: string[] = [];
    for (const o of objs) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
    const properties: Record<string, Schema> = {};
    for (const k of keys) properties[k] = inferSchema(objs.filter((o) => Object.hasOwn(o, k)).map((o) => o[k]));
    schema.properties = properties;
    schema.required = keys.filter((k) => objs.every((o) => Object.hasOwn(o, k)));
  }
  if (types.has('array')) {
    const items = samples.filter(Array.isArray).flat();
    schema.items = items.length ? inferSchema(items) : {};
  }
  return schema;
}

export const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
export const str: Schema = { type: 'string' };
export const int: Schema = { type: 'integer' };
export const numb: Schema = { type: 'number' };
export const bool: Schema = { type: 'boolean' };
export const dateTime: Schema = { type: 'string', format: 'date-time' };
export const arr = (items: Schema): Schema => ({ type: 'array', items });
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

export const MESSAGE = obj({ message: str });

export function json(description: string, schema: Schema): Schema {
  return { description, content: { 'application/json': { schema } } };
}

/** A JSON request body. */
export function jsonRequest(schema: Schema): Schema {
  return { required: true, content: { 'application/json': { schema } } };
}

/** The responses every route of an upstream with credentials shares (401), plus `extra`. */
export const errorResponses = (auth: boolean, extra: Record<string, Schema> = {}): Record<string, Schema> => ({
  ...extra,
  ...(auth ? { '401': json('missing or wrong credential', ref('Message')) } : {}),
});

export function qp(name: string, description: string, schema: Schema, required = false): Schema {
  return { name, in: 'query', required, description, schema };
}

export function pathParam(name: string, schema: Schema = str): Schema {
  return { name, in: 'path', required: true, schema };
}

/** The `Idempotency-Key` header of a side-effecting route. */
export const IDEMPOTENCY_KEY: Schema = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'the same key with the same body answers the first answer again and does nothing twice; another body is a 409; kept 24 h',
  schema: { type: 'string', maxLength: 255 },
};

export const BEARER_SCHEME = { bearer: { type: 'http', scheme: 'bearer' } };
export const API_KEY_SCHEME = { apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } };

/** The OpenAPI 3.1 document of one upstream served at `origin`. */
export function openApiDocument(d: SandboxUpstreamDescriptor, origin: string): Schema {
  const p = d.openapi();
  const schemeName = p.security ? Object.keys(p.security)[0]! : undefined;
  return {
    openapi: '3.1.0',
    info: {
      title: `Tributary sandbox: ${d.name}`,
      version: '1.0.0',
      description: 'A sandbox upstream over the DummyJSON data set (MIT). Every response is JSON.',
    },
    servers: [{ url: origin }],
    ...(schemeName ? { security: [{ [schemeName]: [] }] } : {}),
    paths: p.paths,
    components: {
      schemas: { Message: MESSAGE, ...p.schemas },
      ...(p.security ? { securitySchemes: p.security } : {}),
    },
  };
}
