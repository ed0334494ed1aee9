/**
 * Queue scale by simulation (issue 21): N = 1, 2, 4, 8, 16 worker processes (bench/queue-scale-worker.ts, each a
 * BullMQ worker of concurrency 1) on one machine take hundreds of tiny runs (a few SGD steps each) from a
 * throwaway Redis (experiments/queue/local-redis.ts). Reports jobs/s (all jobs / time from the first add to the
 * last finish), queue overhead per job (enqueue-to-start latency of each job's first start, p50 / p99), and
 * with --chaos a random worker is SIGKILLed (and replaced) every --chaos_ms: every job must still complete
 * exactly once (one result file each, written O_EXCL; no job failed; re-executions counted). Enqueue-to-start
 * includes waiting behind the other jobs of the burst; the gap between a worker's jobs is the queue's own cost.
 * Then projects `reproduce all` (experiments/results/v2's measured per-run wall times, the protocol's
 * prerequisites) onto 1, 10 and 100 machines of one worker each: list scheduling in the queue's priority order
 * (depth in the prerequisite graph), plus the worst measured p99 gap per run and, for runs that wait for a
 * prerequisite, the worker's re-check delay (3 s) once.
 * Usage: node --import tsx bench/queue-scale.ts [--jobs 300] [--steps 3] [--ns 1,2,4,8,16] [--chaos]
 *        [--chaos_ms 3000] [--lock_ms 3000] [--out bench/results/DATE-queue-scale.json]
 * Times are wall clock on this machine; N > cores means processes share cores (the point is the queue's own
 * cost, not compute).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import { protocolRuns } from '../experiments/lib/runs.js';
import { FULL } from '../experiments/lib/settings.js';
import { depths } from '../experiments/queue/jobs.js';
import { startRedis } from '../experiments/queue/local-redis.js';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? (process.argv[i + 1] ?? d) : d;
};
const JOBS = Number(arg('jobs', '300'));
const STEPS = Number(arg('steps', '3'));
const NS = arg('ns', '1,2,4,8,16').split(',').map(Number);
const CHAOS = process.argv.includes('--chaos');
const CHAOS_MS = Number(arg('chaos_ms', '3000'));
const LOCK_MS = Number(arg('lock_ms', '3000'));
const OUT = arg(
  'out',
  `bench/results/${new Date().toISOString().slice(0, 10)}-queue-scale${CHAOS ? '-chaos' : ''}.json`,
);
const POLL_S = 3;

const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : Number.NaN;
};

interface Row {
  n: number;
  chaos: boolean;
  jobs: number;
  seconds: number;
  jobsPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** A worker's idle time between finishing one job and starting the next (the queue's own cost per job). */
  gapP50Ms: number;
  gapP99Ms: number;
  kills: number;
  reExecutions: number;
  completed: number;
  failed: number;
  resultFiles: number;
  doubleCompletions: number;
}

/** Every worker process started (so a stopped bench stops them too). */
const everyKid = new Set<ChildProcess>();

async function round(url: string, n: number): Promise<Row> {
  const name = `scale-${n}-${CHAOS ? 'chaos' : 'calm'}-${Date.now()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-qscale-'));
  const store = path.join(dir, 'store');
  fs.mkdirSync(store);
  const events = path.join(dir, 'events.jsonl');
  fs.writeFileSync(events, '');
  const kids = new Set<ChildProcess>();
  const ready = new Set<ChildProcess>();
  const startWorker = () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const p = spawn(
        process.execPath,
        ['--import', 'tsx', 'bench/queue-scale-worker.ts', url, name, store, events, String(LOCK_MS)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      kids.add(p);
      everyKid.add(p);
      p.on('exit', () => {
        kids.delete(p);
        ready.delete(p);
      });
      p.stdout!.on('data', (d) => {
        if (!String(d).includes('ready')) return;
        ready.add(p);
        resolve(p);
      });
      p.on('error', reject);
    });
  await Promise.all(Array.from({ length: n }, startWorker));
  const queue = new Queue(name, { connection: { url, maxRetriesPerRequest: null } });
  const t0 = Date.now();
  await queue.addBulk(
    Array.from({ length: JOBS }, (_, i) => ({
      name: 'tiny',
      data: { seed: i + 1, steps: STEPS },
      opts: { jobId: `tiny.${i}`, attempts: 3, removeOnComplete: false },
    })),
  );
  let kills = 0;
  let chaos: NodeJS.Timeout | null = null;
  if (CHAOS) {
    chaos = setInterval(() => {
      const list = [...ready]; // a worker still starting is not killed again (its predecessor's job waits anyway)
      const victim = list[Math.floor(Math.random() * list.length)];
      if (!victim) return;
      victim.kill('SIGKILL');
      kills++;
      void startWorker();
    }, CHAOS_MS);
  }
  let counts: Record<string, number> = {};
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    counts = await queue.getJobCounts('completed', 'failed');
    if ((counts.completed ?? 0) + (counts.failed ?? 0) >= JOBS || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (chaos) clearInterval(chaos);
  const evs = fs
    .readFileSync(events, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { ev: string; id: string; pid: number; enq?: number; start?: number; end?: number });
  const lastEndOf = new Map<number, number>();
  const gaps: number[] = [];
  for (const e of evs) {
    if (e.ev === 'end') lastEndOf.set(e.pid, e.end!);
    if (e.ev === 'start' && lastEndOf.has(e.pid)) gaps.push(e.start! - lastEndOf.get(e.pid)!);
  }
  const firstStart = new Map<string, number>();
  let starts = 0;
  let lastEnd = t0;
  for (const e of evs) {
    if (e.ev === 'start') {
      starts++;
      if (!firstStart.has(e.id)) firstStart.set(e.id, e.start! - e.enq!);
    }
    if (e.ev === 'end') lastEnd = Math.max(lastEnd, e.end!);
  }
  const lat = [...firstStart.values()];
  for (const k of kids) k.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const k of kids) k.kill('SIGKILL');
  await queue.obliterate({ force: true });
  await queue.close();
  const resultFiles = fs.readdirSync(store).length;
  fs.rmSync(dir, { recursive: true, force: true });
  const seconds = (lastEnd - t0) / 1000;
  return {
    n,
    chaos: CHAOS,
    jobs: JOBS,
    seconds,
    jobsPerS: JOBS / seconds,
    latencyP50Ms: pct(lat, 50),
    latencyP99Ms: pct(lat, 99),
    gapP50Ms: pct(gaps, 50),
    gapP99Ms: pct(gaps, 99),
    kills,
    reExecutions: starts - firstStart.size,
    completed: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    resultFiles,
    doubleCompletions: evs.filter((e) => e.ev === 'double').length,
  };
}

/** Wall time of the full protocol on `m` single-worker machines (list scheduling, queue priority order). */
function project(m: number, overheadS: number): { minutes: number; runs: number; missing: number } {
  const runs = protocolRuns(FULL);
  const depth = depths(runs);
  const dir = path.resolve('experiments', 'results', 'v2');
  let missing = 0;
  const cost = new Map<string, number>();
  for (const r of runs) {
    const f = path.join(dir, `${r.id}.json`);
    const w = fs.existsSync(f) ? Number(JSON.parse(fs.readFileSync(f, 'utf8')).wallS) : Number.NaN;
    if (!Number.isFinite(w)) missing++;
    cost.set(r.id, (Number.isFinite(w) ? w : 0) + overheadS + (r.deps.length ? POLL_S : 0));
  }
  const order = [...runs].sort((a, b) => depth.get(a.id)! - depth.get(b.id)!);
  const finish = new Map<string, number>();
  const free = Array.from({ length: m }, () => 0);
  const pending = [...order];
  while (pending.length) {
    // the earliest-free machine takes the first run (priority order) whose prerequisites are done by then,
    // or waits for the earliest prerequisite to finish
    free.sort((a, b) => a - b);
    const t = free[0]!;
    const ready = (r: (typeof runs)[number]) => r.deps.every((d) => (finish.get(d) ?? Number.POSITIVE_INFINITY) <= t);
    const i = pending.findIndex(ready);
    if (i < 0) {
      const next = Math.min(
        ...pending.flatMap((r) => r.deps.map((d) => finish.get(d) ?? Number.POSITIVE_INFINITY)).filter((x) => x > t),
      );
      free[0] = next;
      continue;
    }
    const r = pending.splice(i, 1)[0]!;
    free[0] = t + cost.get(r.id)!;
    finish.set(r.id, free[0]);
  }
  return { minutes: Math.max(...finish.values()) / 60, runs: runs.length, missing };
}

const redis = await startRedis();
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    for (const k of everyKid) k.kill('SIGKILL');
    void redis.stop().then(() => process.exit(130));
  });
const load0 = os.loadavg();
const rows: Row[] = [];
try {
  for (const n of NS) {
    const r = await round(redis.url, n);
    rows.push(r);
    console.log(JSON.stringify(r));
  }
} finally {
  await redis.stop();
}
const worstP99 = Math.max(...rows.map((r) => r.gapP99Ms)) / 1000;
const projection = [1, 10, 100].map((m) => ({ machines: m, ...project(m, worstP99) }));
const result = {
  bench: 'queue-scale',
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavgStart: load0,
    loadavgEnd: os.loadavg(),
    note: 'shared 2-core machine, loaded by other builds and tests while this ran',
  },
  redis: 'Debian redis-server, appendonly yes, appendfsync always, 127.0.0.1',
  settings: { jobs: JOBS, steps: STEPS, lockMs: LOCK_MS, chaos: CHAOS, chaosMs: CHAOS_MS },
  rows,
  projection: { overheadPerRunS: worstP99, pollS: POLL_S, rows: projection },
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, `${JSON.stringify(result, null, 1)}\n`);
console.log(
  '\n| N workers | jobs | s | jobs/s | enqueue-to-start p50 / p99 ms | gap between jobs p50 / p99 ms | kills | re-executions | completed once |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.n} | ${r.jobs} | ${r.seconds.toFixed(1)} | ${r.jobsPerS.toFixed(1)} | ${r.latencyP50Ms.toFixed(0)} / ${r.latencyP99Ms.toFixed(0)} | ${r.gapP50Ms.toFixed(0)} / ${r.gapP99Ms.toFixed(0)} | ${r.kills} | ${r.reExecutions} | ${r.resultFiles === r.jobs && r.failed === 0 && r.doubleCompletions === 0 ? 'yes' : 'NO'} |`,
  );
console.log('\n| machines | projected reproduce all (min) |');
console.log('|---|---|');
for (const p of projection) console.log(`| ${p.machines} | ${p.minutes.toFixed(1)} |`);
console.log(`wrote ${OUT}`);
