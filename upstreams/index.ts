/** Every upstream the gateway talks to. Adding an upstream: a file here, and one line below. */
import accounts from './accounts.js';
import catalog from './catalog.js';
import inventory from './inventory.js';
import pricing from './pricing.js';
import recommendations from './recommendations.js';
import reviews from './reviews.js';
import shipping from './shipping.js';
import tax from './tax.js';

export const upstreams = { catalog, pricing, inventory, reviews, recommendations, shipping, tax, accounts };
export type Upstreams = typeof upstreams;
