/**
 * Preloaded into a gateway by `bench/profile.ts --heap` (`node --import ./bench/heap-sampler.mjs`):
 * V8's sampling heap profiler on the process's own inspector session, counting every allocation,
 * including objects the scavenger or a major GC has already collected (what drives GC cost, not what
 * stays alive). The first SIGUSR2 starts sampling; the second stops it and writes the profile to
 * `HEAP_PROFILE_OUT`. Bench-only: never part of the gateway.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const out = process.env.HEAP_PROFILE_OUT;
if (!out) throw new Error('heap-sampler: set HEAP_PROFILE_OUT');
const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    return;
  }
  session.post('HeapProfiler.stopSampling', (err, r) => {
    if (err) throw err;
    writeFileSync(out, JSON.stringify(r.profile));
    sampling = false;
  });
});
