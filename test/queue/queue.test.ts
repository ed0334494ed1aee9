/**
 * The reproductions through a real Redis + BullMQ (experiments/queue), against a local run of the same
 * protocol. Workers are separate `bit-ts worker` processes, each with its own working folder (data caches),
 * sharing only Redis and the store. Every comparison uses equal thread counts (--threads 2 everywhere).
 *  1. table4 of --quick (8 runs: 4 upstreams, 4 transfers waiting for them; a subset of --quick, whose 35
 *     runs through two workers next to a local reference do not fit this file's time budget): enqueued twice
 *     (the second adds nothing), two workers, Redis SIGKILLed and restarted mid-protocol (append-only file):
 *     every result JSON equals the local run's (scienceOf: all but timings, worker name, the runs root), each
 *     run finished exactly once, the protocol job wrote the report.
 *  2. --quick upstreams with a 60-step up-tiny (--settings): the worker holding up-tiny gets SIGTERM at a random
 *     step (it checkpoints, returns the job, exits 0), the next holder resumes at exactly that step and is
 *     SIGKILLed a few steps on; a third worker resumes from the last periodic checkpoint (not step 0) and the
 *     result equals the local run's; up-imagenette, whose checkpoint in the store is corrupt, fails once
 *     (CheckpointError, no retries) and the rest goes on.
 * Skipped where redis-server or ../shared/data is absent (with the reason).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scienceOf } from '../../experiments/lib/record.js';
import { protocolRuns } from '../../experiments/lib/runs.js';
import { QUICK } from '../../experiments/lib/settings.js';
import { redisAvailable, startRedis, type TestRedis } from '../../experiments/queue/local-redis.js';

const data = path.resolve('..', 'shared', 'data');
const tars = ['cifar10/train.tar', 'imagenette/train.tar', 'tiny-imagenet/train.tar', 'tiny-imagenet/val.tar'];
const haveData = tars.every((f) => fs.existsSync(path.join(data, f)));
const haveRedis = redisAvailable();
if (!haveRedis) console.warn('skipping the queue tests: redis-server is not installed (Debian package redis-server)');
if (!haveData) console.warn(`skipping the queue tests: the shared data (${tars.join(', ')} in ${data}) is absent`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-queue-'));
const procs: ChildProcess[] = [];
let redis: TestRedis | null = null;

/** A `bit-ts` process; resolves with its exit code and output. */
function cli(args: string[], log?: string[]): { proc: ChildProcess; done: Promise<{ code: number; out: string }> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  const add = (d: Buffer) => {
    out += d;
    log?.push(...d.toString().split('\n').filter(Boolean));
  };
  proc.stdout!.on('data', add);
  proc.stderr!.on('data', add);
  const done = new Promise<{ code: number; out: string }>((res) =>
    proc.on('exit', (c, sig) => res({ code: c ?? (sig ? 128 : 1), out })),
  );
  return { proc, done };
}

const until = async (what: string, cond: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
const workerArgs = (url: string, store: string, work: string, extra: string[] = []) => [
  'worker',
  '--quick',
  '--queue',
  url,
  '--store',
  store,
  '--work',
  work,
  '--threads',
  '2',
  '--lock_ms',
  '5000',
  '--idle_exit_ms',
  '2000',
  ...extra,
];

/** The reference: the same protocol run in-process by `bit-ts reproduce` (2 threads, as the workers). */
const localRun = (args: string[], dir: string) =>
  cli(['reproduce', ...args, '--threads', '2', '--out', `${dir}/results`, '--work', `${dir}/work`]);

beforeAll(async () => {
  if (haveRedis && haveData) redis = await startRedis();
});

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveRedis || !haveData)('reproduce --queue with bit-ts workers on a real Redis', () => {
  it('table4 through two workers and a Redis restart equals the local run; enqueueing twice adds nothing', async () => {
    const url = `${redis!.url.slice(0, -1)}1`; // database 1: the two tests use separate queues anyway
    const store = path.join(tmp, 't4-store');
    const local = path.join(tmp, 't4-local');
    const ref = localRun(['table4', '--quick'], local);
    const enq = ['reproduce', 'table4', '--quick', '--queue', url, '--store', store];
    const first = await cli(enq).done;
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/8 runs pending \(8 added now, 0 were queued already\)/);
    const second = await cli(enq).done;
    expect(second.out).toMatch(/8 runs pending \(0 added now, 8 were queued already\)/);
    const logs: string[][] = [[], []];
    const workers = [0, 1].map((i) => cli(workerArgs(url, store, path.join(tmp, `t4-w${i}`)), logs[i]));
    // Redis dies (SIGKILL) once two results are in, and comes back from its append-only file
    const ids = protocolRuns(QUICK)
      .filter((r) => r.experiment === 'table4')
      .map((r) => r.id);
    const inStore = () => ids.filter((id) => fs.existsSync(path.join(store, 'results', `${id}.json`))).length;
    await until('two table4 results in the store', () => inStore() >= 2, 90_000);
    const before = inStore();
    await redis!.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await redis!.start();
    const codes = await Promise.all(workers.map((w) => w.done));
    for (const c of codes) expect(c.code, c.out).toBe(0);
    const r = await ref.done;
    expect(r.code, r.out).toBe(0);
    console.log(
      `table4: Redis restarted with ${before}/8 results in the store; worker runs: ${logs.map((l) => l.filter((x) => /\] accuracy/.test(x)).length).join(' + ')}`,
    );
    for (const id of ids) {
      const q = readJson(path.join(store, 'results', `${id}.json`));
      const l = readJson(path.join(local, 'results', `${id}.json`));
      expect(q.threads).toBe(2);
      expect(l.threads).toBe(2);
      expect(q.backend).toBe('wasm');
      expect(typeof q.worker).toBe('string');
      const same = isDeepStrictEqual(
        scienceOf(q, path.join(store, 'runs')),
        scienceOf(l, path.join(local, 'work', 'runs')),
      );
      expect(same, `${id}: queue ${JSON.stringify(q)}\nlocal ${JSON.stringify(l)}`).toBe(true);
      // finished exactly once over both workers (a restart may hand a run on, never finish it twice)
      const finished = logs.flat().filter((x) => x.startsWith(`[${id}] accuracy`));
      expect(finished.length, `${id}: ${finished.join('\n')}`).toBe(1);
    }
    expect(fs.readFileSync(path.join(store, 'results', 'summary.md'), 'utf8')).toMatch(/Table 4/);
    const st = await cli(['reproduce', 'status', '--quick', '--queue', url]).done;
    expect(st.out).toMatch(/\| table4 \| 0 \| 0 \| 8 \| 0 \|/);
  }, 150_000);

  it('SIGTERM returns a run, SIGKILL hands it on: each next worker resumes from the checkpoint to the same result; a bad run fails once', async () => {
    const url = `${redis!.url.slice(0, -1)}2`;
    const settings = path.join(tmp, 'long-up.json');
    fs.writeFileSync(settings, JSON.stringify({ upstreams: { tiny: { steps: 60 } }, checkpointEvery: 4 }));
    const store = path.join(tmp, 'kill-store');
    const local = path.join(tmp, 'kill-local');
    const common = ['--quick', '--settings', settings];
    const ref = localRun(['upstream', ...common], local);
    // a real fault: up-imagenette's checkpoint in the store is unreadable
    fs.mkdirSync(path.join(store, 'runs', 'up-imagenette'), { recursive: true });
    fs.writeFileSync(path.join(store, 'runs', 'up-imagenette', 'latest.safetensors'), 'not a checkpoint');
    const enq = await cli(['reproduce', 'upstream', ...common, '--queue', url, '--store', store]).done;
    expect(enq.out).toMatch(/2 runs pending \(2 added now/);
    const logs: string[][] = [[], [], []];
    const start = (i: number) =>
      cli(workerArgs(url, store, path.join(tmp, `kill-w${i}`), ['--settings', settings]), logs[i]);
    const workers = [start(0), start(1)];
    const run = path.join(store, 'runs', 'up-tiny');
    const trained = () => {
      const f = path.join(run, 'metrics.jsonl');
      return fs.existsSync(f)
        ? fs
            .readFileSync(f, 'utf8')
            .split('\n')
            .filter((l) => l.includes('"train"')).length
        : 0;
    };
    const holder = () => {
      try {
        return JSON.parse(fs.readFileSync(path.join(run, '.bit-ts.lock'), 'utf8')).pid as number;
      } catch {
        return -1;
      }
    };
    // SIGTERM at a random step: the holder checkpoints after that step, returns the job and exits 0
    const termAt = 4 + Math.floor(Math.random() * 10);
    await until(`up-tiny at step ${termAt}`, () => trained() >= termAt, 90_000);
    const first = holder();
    const termed = workers.findIndex((w) => w.proc.pid === first);
    expect(termed, `lock pid ${first}`).toBeGreaterThanOrEqual(0);
    process.kill(first, 'SIGTERM');
    workers.push(start(2)); // the spare that will take over after the SIGKILL below
    expect((await workers[termed]!.done).code).toBe(0);
    const returned = logs[termed]!.find((l) => /up-tiny: interrupted after step \d+.*returned to the queue/.test(l));
    expect(returned, logs[termed]!.join('\n')).toBeDefined();
    const termStep = Number(/after step (\d+)/.exec(returned!)![1]);
    // the other worker takes it at once and resumes at that exact step; SIGKILL it a few periodic checkpoints on
    const killAt = termStep + 5 + Math.floor(Math.random() * 8);
    await until(`a second holder at step ${killAt}`, () => holder() !== first && holder() > 0 && trained() >= killAt);
    const second = holder();
    const killed = workers.findIndex((w) => w.proc.pid === second);
    expect(killed, `lock pid ${second}`).toBeGreaterThanOrEqual(0);
    const stepAtKill = trained();
    process.kill(second, 'SIGKILL');
    const codes = await Promise.all(workers.map((w) => w.done));
    expect(codes[killed]!.code).toBe(128);
    const r = await ref.done;
    expect(r.code, r.out).toBe(0);
    const resumes = logs.map((l) => l.find((x) => /^\[up-tiny\] resumed from \S+ at step \d+/.test(x)));
    const stepOf = (line: string | undefined) => Number(/at step (\d+)/.exec(line ?? '')?.[1] ?? -1);
    expect(stepOf(resumes[killed]), logs[killed]!.join('\n')).toBe(termStep);
    const third = [0, 1, 2].find((i) => i !== termed && i !== killed)!;
    expect(codes[third]!.code, codes[third]!.out).toBe(0);
    const at = stepOf(resumes[third]);
    console.log(
      `SIGTERM at step ${termAt}: checkpoint at step ${termStep}, resumed there; SIGKILL at step ${stepAtKill} (asked ${killAt}); ${resumes[third]}`,
    );
    expect(at).toBeGreaterThan(termStep);
    expect(at % 4).toBe(0);
    expect(at).toBeLessThanOrEqual(stepAtKill);
    const q = readJson(path.join(store, 'results', 'up-tiny.json'));
    const l = readJson(path.join(local, 'results', 'up-tiny.json'));
    expect((q.train as { steps: number }).steps).toBe(60);
    expect(
      isDeepStrictEqual(scienceOf(q, path.join(store, 'runs')), scienceOf(l, path.join(local, 'work', 'runs'))),
    ).toBe(true);
    // the corrupt run: failed once (no retries of a named error), reported with its error; no result
    expect(fs.existsSync(path.join(store, 'results', 'up-imagenette.json'))).toBe(false);
    const fails = logs.flat().filter((x) => /run run\.up-imagenette\.\S+ failed/.test(x));
    expect(fails.length, fails.join('\n')).toBe(1);
    const st = await cli(['reproduce', 'status', ...common, '--queue', url]).done;
    expect(st.out).toMatch(/\| upstream \| 0 \| 0 \| 1 \| 1 \|/);
    expect(st.out).toMatch(/up-imagenette \(1 attempt\(s\)\): CheckpointError: \S+latest.safetensors/);
  }, 150_000);
});
