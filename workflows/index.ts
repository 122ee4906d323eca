/**
 * Every orchestrated write, discovered: each file of this folder default-exports one workflow
 * (`defineWorkflow`), named as its file in camelCase (`place-order.ts` → `placeOrder`). Adding a
 * workflow is adding a file; nothing here lists them.
 */
import { importFolder } from '../src/discover.js';
import type { WorkflowDef } from '../src/workflow/index.js';

const camel = (file: string) => file.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

async function discover(): Promise<WorkflowDef[]> {
  const found: WorkflowDef[] = [];
  for (const { name, exports } of await importFolder(new URL('./', import.meta.url))) {
    const def = exports.default as WorkflowDef | undefined;
    if (!def || typeof def !== 'object' || !Array.isArray(def.groups)) {
      throw new Error(`workflows/${name}: the file must default-export a workflow made by defineWorkflow(...).`);
    }
    if (def.name !== camel(name)) throw new Error(`workflows/${name}: the workflow is named "${def.name}"; name the file after it.`);
    found.push(def);
  }
  return found;
}

export const workflowList: readonly WorkflowDef[] = await discover();
