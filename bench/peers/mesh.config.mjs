/**
 * GraphQL Mesh composition of the sandbox's OpenAPI documents (catalog, pricing, inventory), for
 * Hive Gateway. Base URLs come from UPSTREAM_<NAME>_URL (the bench's sandbox).
 */
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const env = process.env;
export const composeConfig = defineConfig({
  subgraphs: ['catalog', 'pricing', 'inventory'].map((name) => ({
    sourceHandler: loadOpenAPISubgraph(name, {
      source: `${env[`UPSTREAM_${name.toUpperCase()}_URL`]}/openapi.json`,
      endpoint: env[`UPSTREAM_${name.toUpperCase()}_URL`],
      operationHeaders: name === 'pricing' ? { authorization: `Bearer ${env.PRICING_TOKEN}` } : name === 'inventory' ? { 'x-api-key': env.INVENTORY_API_KEY } : {},
    }),
  })),
});
