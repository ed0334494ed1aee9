/**
 * `bit-ts reproduce status --queue URL`: per experiment, how many runs wait / are active / done / failed;
 * which worker holds which run (BullMQ's `processedBy` of active jobs); each failed run's error (once: BullMQ
 * keeps one failed job per id, whatever its attempts); and per worker, runs finished and the median images/s of
 * their training steps (from the runs' returned outcomes).
 * Invariant: read-only (never moves or adds a job).
 */

import { type Job, Queue } from 'bullmq';
import type { Settings } from '../lib/settings.js';
import { connectionOf, type JobData, queueName } from './jobs.js';
import type { RunOutcome } from './worker.js';

/** Counts per experiment, the active runs, the failures and per-worker speeds. */
export interface QueueStatus {
  queue: string;
  experiments: Record<string, { waiting: number; active: number; done: number; failed: number }>;
  active: { id: string; worker: string }[];
  failed: { id: string; attempts: number; error: string }[];
  workers: Record<string, { runs: number; imagesPerS: number }>;
}

const median = (a: number[]) => (a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]! : 0);

/** Read the queue of protocol `s`. */
export async function queueStatus(url: string, s: Settings): Promise<QueueStatus> {
  const queue = new Queue<JobData>(queueName(s), { connection: connectionOf(url) });
  try {
    const st: QueueStatus = { queue: queue.name, experiments: {}, active: [], failed: [], workers: {} };
    const speeds = new Map<string, number[]>();
    const groups: [keyof QueueStatus['experiments'][string], string[]][] = [
      ['waiting', ['waiting', 'prioritized', 'delayed', 'paused']],
      ['active', ['active']],
      ['done', ['completed']],
      ['failed', ['failed']],
    ];
    for (const [key, states] of groups) {
      const jobs = (await queue.getJobs(states as never, 0, -1)) as (Job<JobData> | undefined)[];
      for (const j of jobs) {
        if (j?.data.kind !== 'run') continue;
        const e = (st.experiments[j.data.experiment] ??= { waiting: 0, active: 0, done: 0, failed: 0 });
        e[key]++;
        if (key === 'active') st.active.push({ id: j.data.id, worker: j.processedBy ?? '?' });
        if (key === 'failed') st.failed.push({ id: j.data.id, attempts: j.attemptsMade, error: j.failedReason });
        if (key === 'done') {
          const r = j.returnvalue as RunOutcome | null;
          if (!r?.worker || r.alreadyDone) continue;
          if (!speeds.has(r.worker)) speeds.set(r.worker, []);
          if (typeof r.imagesPerS === 'number') speeds.get(r.worker)!.push(r.imagesPerS);
          st.workers[r.worker] = { runs: (st.workers[r.worker]?.runs ?? 0) + 1, imagesPerS: 0 };
        }
      }
    }
    for (const [w, v] of speeds) st.workers[w]!.imagesPerS = median(v);
    return st;
  } finally {
    await queue.close();
  }
}

/** The status as text (one table per section). */
export function formatStatus(st: QueueStatus): string {
  const lines = [`queue ${st.queue}`, '| experiment | waiting | active | done | failed |', '|---|---|---|---|---|'];
  for (const [e, c] of Object.entries(st.experiments))
    lines.push(`| ${e} | ${c.waiting} | ${c.active} | ${c.done} | ${c.failed} |`);
  if (st.active.length) lines.push('', 'active:', ...st.active.map((a) => `  ${a.id} on ${a.worker}`));
  if (st.failed.length)
    lines.push('', 'failed:', ...st.failed.map((f) => `  ${f.id} (${f.attempts} attempt(s)): ${f.error}`));
  const ws = Object.entries(st.workers);
  if (ws.length)
    lines.push(
      '',
      '| worker | runs finished | median images/s |',
      '|---|---|---|',
      ...ws.map(([w, v]) => `| ${w} | ${v.runs} | ${v.imagesPerS.toFixed(0)} |`),
    );
  return lines.join('\n');
}
