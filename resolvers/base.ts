import type { Resolvers } from '../generated/resolvers-types.js';
import { formatCents } from './money.js';

export const API_VERSION = '0.1.0';

export const baseResolvers: Resolvers = {
  Query: {
    apiVersion: () => API_VERSION,
  },
  Money: {
    amount: (m) => formatCents(m.cents),
    currencyCode: (m) => m.currency,
  },
};

export default baseResolvers;
