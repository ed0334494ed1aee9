/**
 * Child of bench/queue-scale.ts: one BullMQ worker process (concurrency 1) on queue argv[3] at Redis argv[2].
 * Each job is a tiny run: `steps` SGD steps of a 16 -> 10 linear classifier on the reference backend, seeded by
 * the job, ending in a result file written with O_EXCL under argv[4] (the "store"): a job whose result file
 * exists returns at once (its earlier holder finished the work but died before BullMQ recorded it). Appends one
 * JSON line per job start and per finish to argv[5] (enqueue time from job.timestamp, start and end times).
 * Prints "ready" once the worker runs.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Job, Worker } from 'bullmq';
import { Rng } from '../src/data/index.js';
import { randn, tidy, useBackend } from '../src/index.js';
import { crossEntropy, Linear, SGD } from '../src/nn/index.js';

const [url, queue, store, events, lockMs] = process.argv.slice(2) as [string, string, string, string, string];
await useBackend('reference');
const log = (o: Record<string, unknown>) =>
  fs.appendFileSync(events, `${JSON.stringify({ pid: process.pid, ...o })}\n`);

async function tinyRun(job: Job<{ seed: number; steps: number }>): Promise<unknown> {
  const start = Date.now();
  log({ ev: 'start', id: job.id, enq: job.timestamp, start });
  const file = path.join(store, `${job.id}.json`);
  if (fs.existsSync(file)) return { already: true };
  const model = new Linear(16, 10, { rng: new Rng(job.data.seed) });
  const opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
  let loss = 0;
  for (let s = 0; s < job.data.steps; s++) {
    loss = tidy(() => {
      const x = randn([8, 16], { rng: new Rng(job.data.seed * 1000 + s) });
      const l = crossEntropy(
        model.forward(x),
        Int32Array.from({ length: 8 }, (_, i) => (i + s) % 10),
      );
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l.item();
    });
  }
  try {
    fs.writeFileSync(file, JSON.stringify({ id: job.id, loss, pid: process.pid }), { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    log({ ev: 'double', id: job.id }); // someone else completed the same job: must never happen
  }
  log({ ev: 'end', id: job.id, end: Date.now() });
  return { loss };
}

const worker = new Worker(queue, tinyRun, {
  connection: { url, maxRetriesPerRequest: null },
  concurrency: 1,
  lockDuration: Number(lockMs),
  stalledInterval: Math.max(250, Number(lockMs) / 2),
  maxStalledCount: 100,
});
worker.on('error', () => {});
await worker.waitUntilReady();
console.log('ready');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
