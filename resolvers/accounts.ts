import type { Resolvers } from '../generated/resolvers-types.js';

export const accountsResolvers: Resolvers = {
  Query: {
    // Only ever the signed-in user's own profile: the id comes from the verified token, never from arguments.
    viewer: (_, __, ctx) => (ctx.user ? ctx.upstreams.accounts.userById.load(ctx.user.id) : null),
  },
  Viewer: {
    shippingAddress: (v) => v.address,
  },
};

export default accountsResolvers;
