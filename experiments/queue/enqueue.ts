/**
 * `bit-ts reproduce <what> --queue URL --store DIR`: put the protocol's runs into BullMQ and return.
 * One flow: the protocol job (the report, written when everything below it has finished) is the parent of one
 * table job per experiment, each the parent of that experiment's runs (plus, in their own experiments' tables,
 * the prerequisites a local `reproduce <what>` would run). Runs finished in the store (result JSON present, and
 * its checkpoint when dependants read one) are left out, as the local driver skips them.
 *
 * Run-to-run prerequisites (a transfer needs its upstream; the scratch few-shot runs need their grid) form a
 * DAG in which one upstream feeds many runs, and a BullMQ job has at most one parent (a second parent is
 * refused: -7 in its handleDuplicatedJob script), so those edges are not flow edges: every run job carries its
 * `deps`, its priority is its depth in the DAG (prerequisites are taken first), and a worker that takes a run
 * whose prerequisites are unfinished puts it back as delayed (worker.ts). Children have
 * `ignoreDependencyOnFailure`, so a failed run leaves its table (and the report) to go on without it.
 *
 * Invariants: every job id is `runJobId`/`groupJobId` of (name, settings), so adding the same flow again (a
 * second `reproduce --queue`, or one after a crash) adds nothing that exists; finished jobs are kept (a job id
 * stays taken, so a finished run is never enqueued again). A run queued earlier by another `<what>` keeps
 * its parent there (one parent per job); the new flow's tables then wait only for the runs it added.
 */

import { type FlowJob, FlowProducer, Queue } from 'bullmq';
import { type RunDef, readResult } from '../lib/protocol.js';
import type { Settings } from '../lib/settings.js';
import {
  connectionOf,
  depths,
  type GroupJobData,
  groupJobId,
  queueName,
  type RunJobData,
  runJobId,
  settingsHash,
  withPrerequisites,
} from './jobs.js';

/** Attempts of a run that throws an ordinary error (a named data/config/checkpoint error fails at once). */
export const RUN_ATTEMPTS = 3;

/** What `enqueueProtocol` added. */
export interface EnqueueReport {
  queue: string;
  /** Runs of the flow (not yet finished in the store). */
  runs: number;
  /** Of those, jobs that did not exist before this call. */
  added: number;
  /** Runs skipped because their result is already in the store. */
  done: number;
}

/**
 * Enqueue `what` (an experiment name or 'all') of protocol `s` with `results` as the store's result folder.
 * @param artifactOf the file a finished run must have left for dependants (undefined: none)
 */
export async function enqueueProtocol(o: {
  url: string;
  s: Settings;
  what: string;
  all: readonly RunDef[];
  results: string;
  artifactOf: (r: RunDef) => string | undefined;
  exists: (file: string) => boolean;
}): Promise<EnqueueReport> {
  const { s } = o;
  const connection = connectionOf(o.url);
  const name = queueName(s);
  const hash = settingsHash(s);
  const wanted = o.all.filter((r) => o.what === 'all' || r.experiment === o.what).map((r) => r.id);
  const finished = (r: RunDef) => {
    if (!readResult(o.results, r.id)) return false;
    const a = o.artifactOf(r);
    return a === undefined || o.exists(a);
  };
  const need = withPrerequisites(o.all, wanted);
  const todo = need.filter((r) => !finished(r));
  const depth = depths(o.all);
  const queue = new Queue(name, { connection });
  const flows = new FlowProducer({ connection });
  try {
    const before = new Set<string>();
    for (const r of todo) if (await queue.getJob(runJobId(s, r.id))) before.add(r.id);
    // a run already queued (by another `reproduce <what> --queue`) stays under the parent it has
    const fresh = todo.filter((r) => !before.has(r.id));
    const experiments = [...new Set(fresh.map((r) => r.experiment))];
    const child = { ignoreDependencyOnFailure: true, removeOnComplete: false, removeOnFail: false };
    const tables: FlowJob[] = experiments.map((e) => ({
      name: 'table',
      queueName: name,
      data: { kind: 'table', name: e, settings: hash } satisfies GroupJobData,
      opts: { ...child, jobId: groupJobId(s, 'table', `${o.what}.${e}`) },
      children: fresh
        .filter((r) => r.experiment === e)
        .map((r) => ({
          name: 'run',
          queueName: name,
          data: { kind: 'run', id: r.id, experiment: r.experiment, settings: hash, deps: r.deps } satisfies RunJobData,
          opts: {
            ...child,
            jobId: runJobId(s, r.id),
            priority: 1 + (depth.get(r.id) ?? 0),
            attempts: RUN_ATTEMPTS,
            backoff: { type: 'exponential', delay: 2000 },
          },
        })),
    }));
    if (fresh.length > 0) {
      await flows.add({
        name: 'protocol',
        queueName: name,
        data: { kind: 'protocol', name: o.what, settings: hash } satisfies GroupJobData,
        opts: { jobId: groupJobId(s, 'protocol', o.what), removeOnComplete: false, removeOnFail: false },
        children: tables,
      });
    }
    return { queue: name, runs: todo.length, added: todo.length - before.size, done: need.length - todo.length };
  } finally {
    await flows.close();
    await queue.close();
  }
}
