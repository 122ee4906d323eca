/** Every module's resolvers, merged by the composition root. One file per schema module. */
import type { Resolvers } from '../generated/resolvers-types.js';
import { accountsResolvers } from './accounts.js';
import { baseResolvers } from './base.js';
import { catalogResolvers } from './catalog.js';
import { checkoutResolvers } from './checkout.js';
import { inventoryResolvers } from './inventory.js';
import { pricingResolvers } from './pricing.js';
import { recommendationsResolvers } from './recommendations.js';
import { reviewsResolvers } from './reviews.js';
import { shippingResolvers } from './shipping.js';

export const resolvers: Resolvers[] = [
  baseResolvers,
  catalogResolvers,
  pricingResolvers,
  inventoryResolvers,
  reviewsResolvers,
  recommendationsResolvers,
  shippingResolvers,
  checkoutResolvers,
  accountsResolvers,
];
