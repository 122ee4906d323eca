/**
 * accounts: user profiles (DummyJSON users API). The upstream returns every field, sensitive ones
 * included (password, ssn, bank, crypto, ip, macAddress); the response schema and the mapping below
 * keep only what the gateway may show, so those fields never leave this file.
 */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

/** @mapper Address (the parent of `Address` resolvers: codegen.ts reads this tag) */
export interface AccountAddress {
  readonly line1: string;
  readonly city: string;
  readonly postalCode: string;
  readonly state: string;
  readonly country: string;
}

/** @mapper Viewer (the parent of `Viewer` resolvers: codegen.ts reads this tag) */
export interface AccountProfile {
  readonly id: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly email: string;
  readonly address: AccountAddress | null;
}

const AddressSchema = Type.Object({
  address: Type.String(),
  city: Type.String(),
  postalCode: Type.String(),
  state: Type.Optional(Type.String()),
  country: Type.Optional(Type.String()),
});

const accounts = defineUpstream({
  name: 'accounts',
  description: 'User profiles.',
  baseUrlEnv: 'UPSTREAM_ACCOUNTS_URL',
  auth: { scheme: 'bearer', token: { env: 'ACCOUNTS_TOKEN', sandboxDefault: 'sandbox-accounts-token' } },
  policy: { timeoutMs: 1_000 },
  sensitiveFields: ['password', 'ssn', 'bank', 'crypto', 'ip', 'macAddress', 'email', 'phone', 'address', 'birthDate'],
  endpoints: {
    userById: singleEndpoint({
      method: 'GET',
      request: (id: string) => ({ path: '/users/:id', params: { id } }),
      response: Type.Object({
        id: Type.Integer(),
        firstName: Type.String(),
        lastName: Type.String(),
        email: Type.String(),
        address: Type.Optional(AddressSchema),
      }),
      map: (u): AccountProfile => ({
        id: String(u.id),
        firstName: u.firstName,
        lastName: u.lastName,
        email: u.email,
        address: u.address
          ? { line1: u.address.address, city: u.address.city, postalCode: u.address.postalCode, state: u.address.state ?? '', country: u.address.country ?? '' }
          : null,
      }),
      notFoundIsNull: true,
      cache: { ttlMs: 30_000, scope: 'user' },
    }),
  },
});
export default accounts;

declare module './index.js' {
  interface Upstreams {
    accounts: typeof accounts;
  }
}
