/**
 * A queue worker: takes the protocol's jobs from BullMQ and runs them through the same path as a local run
 * (experiments/lib/record.ts -> RunDef.exec -> protocol.ts's trainRun -> src/train's `train()`), writing run
 * folders and result JSONs into the shared store. The Trainer knows nothing of the queue.
 *
 * Per job: a run whose result is already in the store returns at once (its worker died after writing it); a
 * run with an unfinished prerequisite goes back to the queue as delayed (a failed prerequisite fails it);
 * otherwise it trains, resuming from `<store>/runs/<id>/latest.safetensors` when an earlier holder left one.
 * Faults: SIGKILL leaves the job active until its lock expires, then BullMQ's stalled-job check (in any live
 * worker) moves it back to waiting; SIGTERM / Ctrl-C asks the run to stop after the current step, which writes a
 * checkpoint, and the job goes back to waiting (moveToWait), then the worker exits. A named error of src/
 * (DataError, CheckpointError, ConfigError, ...) fails the job at once (UnrecoverableError); other errors are
 * retried up to the job's attempts. A table job returns its runs' outcomes; the protocol job writes the report.
 * Invariants: nothing here changes seeds, data order or schedule: they come from the run's settings; the run
 * folder's lock is the trainer's own (a lock from another host is taken over only when the folder has been
 * still for `staleMs`, since BullMQ has already handed this job to us).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DelayedError, type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { BitError } from '../../src/errors.js';
import { LOCK_FILE, pidAlive } from '../../src/train/run-lock.js';
import { type Context, type RunDef, RunInterrupted, readResult, runDir } from '../lib/protocol.js';
import { collectReport, recordRun } from '../lib/record.js';
import { connectionOf, type JobData, queueName, runJobId, settingsHash } from './jobs.js';

/** Options of `runWorker`. */
export interface WorkerOptions {
  url: string;
  ctx: Context;
  all: readonly RunDef[];
  /** Where the protocol job writes plots (as the local driver does). */
  imgDir: string;
  /** This worker's name in BullMQ and in results (default host:pid). */
  name?: string;
  /** BullMQ lock of an active job (ms): a killed worker's job is handed on about this long after it died. */
  lockMs?: number;
  /** How often this worker looks for stalled jobs (ms). */
  stalledMs?: number;
  /** Delay before a run waiting for a prerequisite is looked at again (ms). */
  pollMs?: number;
  /** A run folder locked by another host is taken over after this long without a change (ms). */
  staleMs?: number;
  /** Exit once the queue has had nothing to do for this long (ms; 0: run until stopped). */
  idleExitMs?: number;
}

/** What a run job returns (shown by `reproduce status`). */
export interface RunOutcome {
  id: string;
  worker: string;
  accuracy?: number;
  imagesPerS?: number;
  wallS?: number;
  alreadyDone?: boolean;
}

const isDone = (ctx: Context, r: RunDef) =>
  readResult(ctx.paths.results, r.id) !== null && (!r.artifact || fs.existsSync(r.artifact(ctx)));

/** Whether the run folder is locked by a live process (this host) or a recently active one (another host). */
function lockedElsewhere(dir: string, staleMs: number): string | null {
  const file = path.join(dir, LOCK_FILE);
  let held: { pid?: number; host?: string };
  try {
    held = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null; // none, or unreadable (the trainer replaces it)
  }
  if (held.host === os.hostname()) return held.pid !== process.pid && pidAlive(Number(held.pid)) ? file : null;
  const still = (f: string) => (fs.existsSync(f) ? Date.now() - fs.statSync(f).mtimeMs : Number.POSITIVE_INFINITY);
  if (Math.min(still(file), still(path.join(dir, 'metrics.jsonl'))) < staleMs) return file;
  fs.rmSync(file, { force: true }); // its host stopped writing: BullMQ gave the job to us
  return null;
}

/**
 * Run a worker until SIGTERM/SIGINT (or `idleExitMs` without work).
 * @returns the exit code (0 after a clean stop).
 */
export async function runWorker(o: WorkerOptions): Promise<number> {
  const { ctx } = o;
  const s = ctx.s;
  const log = ctx.log;
  const hash = settingsHash(s);
  const name = o.name ?? `${os.hostname()}:${process.pid}`;
  const byId = new Map(o.all.map((r) => [r.id, r]));
  const connection = connectionOf(o.url);
  const queue = new Queue(queueName(s), { connection });
  queue.on('error', (e) => log(`[worker ${name}] queue connection: ${e.message}`));
  let stopping = false;
  ctx.shouldStop = () => stopping;
  const pollMs = o.pollMs ?? 3000;

  const processRun = async (job: Job<JobData>, token: string | undefined, r: RunDef): Promise<RunOutcome> => {
    if (isDone(ctx, r)) return { id: r.id, worker: name, alreadyDone: true };
    for (const d of r.deps) {
      const dep = byId.get(d);
      if (dep && isDone(ctx, dep)) continue;
      const dj = await queue.getJob(runJobId(s, d));
      const state = dj ? await dj.getState() : 'missing';
      if (state === 'failed') throw new UnrecoverableError(`prerequisite ${d} failed: ${dj?.failedReason}`);
      if (state === 'missing' || state === 'completed')
        throw new UnrecoverableError(`prerequisite ${d} has no result in ${ctx.paths.results} and no pending job`);
      await job.moveToDelayed(Date.now() + pollMs, token);
      throw new DelayedError();
    }
    const held = lockedElsewhere(runDir(ctx, r.id), o.staleMs ?? 120_000);
    if (held) {
      log(`[worker ${name}] ${r.id}: ${held} is held by a live run; trying again later`);
      await job.moveToDelayed(Date.now() + pollMs, token);
      throw new DelayedError();
    }
    try {
      const res = await recordRun(ctx, r, name);
      const train = res.train as { imagesPerS?: number } | undefined;
      return {
        id: r.id,
        worker: name,
        accuracy: res.accuracy as number | undefined,
        imagesPerS: train?.imagesPerS,
        wallS: res.wallS as number,
      };
    } catch (e) {
      if (e instanceof RunInterrupted) {
        log(`[worker ${name}] ${r.id}: ${e.message}; returned to the queue`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (e instanceof BitError) throw new UnrecoverableError(`${e.name}: ${e.message}`);
      throw e;
    }
  };

  const processor = async (job: Job<JobData>, token?: string): Promise<unknown> => {
    const d = job.data;
    if (d.settings !== hash)
      throw new UnrecoverableError(
        `job ${job.id}: settings ${d.settings} differ from this worker's ${hash} (another bit-ts version, or --quick on one side only)`,
      );
    if (d.kind === 'table') {
      const values = await job.getChildrenValues();
      const failed = await job.getIgnoredChildrenFailures();
      return { table: d.name, completed: Object.keys(values).length, failed: Object.keys(failed).length };
    }
    if (d.kind !== 'run') {
      await collectReport(s, ctx.paths.results, o.imgDir, log);
      return { protocol: d.name, report: ctx.paths.results };
    }
    const r = byId.get(d.id);
    if (!r) throw new UnrecoverableError(`job ${job.id}: this worker's protocol has no run '${d.id}'`);
    return processRun(job, token, r);
  };

  const worker = new Worker<JobData>(queueName(s), processor, {
    connection,
    name,
    concurrency: 1,
    lockDuration: o.lockMs ?? 30_000,
    stalledInterval: o.stalledMs ?? 15_000,
    // a kill is a normal fault here: a job may stall several times before it is given up
    maxStalledCount: 10,
    autorun: false,
  });
  worker.on('error', (e) => log(`[worker ${name}] redis: ${e.message}`));
  worker.on('failed', (job, e) => {
    if (job) log(`[worker ${name}] ${job.data.kind} ${job.id} failed (attempt ${job.attemptsMade}): ${e.message}`);
  });
  const stop = (sig: string) => {
    if (stopping) {
      log(`[worker ${name}] ${sig} again: exiting now`);
      process.exit(130);
    }
    stopping = true;
    log(`[worker ${name}] ${sig}: finishing the current step, checkpointing, returning the job`);
    void worker.close();
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  let emptySince = Number.POSITIVE_INFINITY;
  const idle = o.idleExitMs
    ? setInterval(async () => {
        if (stopping) return;
        const c = await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children');
        if (!Object.values(c).every((n) => n === 0)) emptySince = Number.POSITIVE_INFINITY;
        else if (emptySince === Number.POSITIVE_INFINITY) emptySince = Date.now();
        else if (Date.now() - emptySince >= o.idleExitMs!) {
          log(`[worker ${name}] queue empty for ${o.idleExitMs} ms: exiting`);
          stopping = true;
          void worker.close();
        }
      }, 250)
    : null;
  log(`[worker ${name}] listening on ${queueName(s)} (settings ${hash}), store ${path.dirname(ctx.paths.results)}`);
  try {
    await worker.run();
  } finally {
    if (idle) clearInterval(idle);
    process.removeListener('SIGTERM', onTerm);
    process.removeListener('SIGINT', onInt);
    await worker.close();
    await queue.close();
  }
  return 0;
}
