/**
 * The suite-wide isolation check every `startStack` runs when it closes: proven to catch a planted
 * leak, so a clean close means something.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_CREDENTIALS as C } from '../sandbox/index.js';
import { credentialLeaks, startStack } from './support/stack.js';

describe('credential isolation check of every stack', () => {
  it('finds a credential sent to the wrong upstream, and one in the logs; a clean stack closes without error', async () => {
    const stack = await startStack();
    try {
      const r = await stack.gql('{ product(id: "1") { id title price { sale { amount } } } }');
      expect(r.body.errors).toBeUndefined();
      expect(credentialLeaks(stack.sandbox, C, stack.logText())).toEqual([]);

      // Plant the leaks: inventory's key sent to pricing, and tax's Basic credential written to a log.
      await fetch(`${stack.sandbox.urls.pricing}/v1/prices?skus=X`, { headers: { 'x-api-key': C.inventoryApiKey } });
      const basic = Buffer.from(`${C.taxUsername}:${C.taxPassword}`).toString('base64');
      expect(credentialLeaks(stack.sandbox, C, `{"msg":"oops","auth":"Basic ${basic}"}`)).toEqual([
        "pricing received inventory's credential in x-api-key (GET /v1/prices)",
        "the logs hold tax's credential",
      ]);
      stack.resetStats();
    } finally {
      await stack.close();
    }
  });
});
