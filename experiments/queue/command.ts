/**
 * CLI glue of the queue layer. `bit-ts reproduce <what> --queue URL --store DIR` enqueues (enqueue.ts) and
 * returns; `reproduce status --queue URL` prints the queue (status.ts); `reproduce collect --store DIR` writes
 * hyperrule.json, the tables, plots and summary from the store's results as the end of a local run does.
 * `bit-ts worker --queue URL --store DIR [--concurrency N] [--quick] [--work DIR] [--data DIR] [--threads N]`
 * decodes the data caches into its local work folder, then takes jobs (worker.ts); with --concurrency N > 1 it
 * starts N worker processes (each its own backend and BullMQ worker, threads split between them) and waits.
 * Exit codes: 0 done, 2 bad usage, 3 shared data absent.
 */

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { useBackend } from '../../src/tensor/backends/registry.js';
import { missingData, protocolPaths } from '../lib/paths.js';
import { type Context, EXPERIMENTS, type Paths, prepare, type RunDef } from '../lib/protocol.js';
import { collectReport } from '../lib/record.js';
import { protocolRuns } from '../lib/runs.js';
import type { Settings } from '../lib/settings.js';
import { loadSettings } from '../lib/settings-file.js';
import { enqueueProtocol } from './enqueue.js';
import { formatStatus, queueStatus } from './status.js';
import { runWorker } from './worker.js';

function requireFlag(flags: Record<string, string | boolean>, key: string, what: string): string {
  const v = flags[key];
  if (typeof v !== 'string' || v === '' || v === 'true') throw new ConfigError(`${what}: --${key} is required`);
  return v;
}

/** `reproduce <what|status|collect>` with the queue flags; returns the exit code. */
export async function queueCommand(
  name: string,
  flags: Record<string, string | boolean>,
  s: Settings,
  paths: Paths,
  imgDir: string,
  all: readonly RunDef[],
  log: (m: string) => void,
): Promise<number> {
  if (name === 'status') {
    log(formatStatus(await queueStatus(requireFlag(flags, 'queue', 'reproduce status'), s)));
    return 0;
  }
  if (name === 'collect') {
    if (!flags.store && !flags.out) throw new ConfigError('reproduce collect: --store DIR (or --out DIR) is required');
    await collectReport(s, paths.results, imgDir, log);
    return 0;
  }
  if (name !== 'all' && !(EXPERIMENTS as readonly string[]).includes(name))
    throw new ConfigError(`reproduce ${name}: --queue works with all | ${EXPERIMENTS.join(' | ')} | status`);
  const url = requireFlag(flags, 'queue', `reproduce ${name}`);
  requireFlag(flags, 'store', `reproduce ${name} --queue`);
  const r = await enqueueProtocol({
    url,
    s,
    what: name,
    all,
    results: paths.results,
    artifactOf: (run) => run.artifact?.({ paths } as Context),
    exists: fs.existsSync,
  });
  log(
    `queue ${r.queue}: ${r.runs} runs pending (${r.added} added now, ${r.runs - r.added} were queued already), ${r.done} already done in ${paths.results}`,
  );
  log(`start workers: bit-ts worker --queue ${url} --store ${path.dirname(paths.results)}${s.quick ? ' --quick' : ''}`);
  return 0;
}

/** `bit-ts worker ...`; returns the exit code. */
export async function workerCommand(a: { positional: string[]; flags: Record<string, string> }): Promise<number> {
  const f = a.flags;
  const url = requireFlag(f, 'queue', 'bit-ts worker');
  requireFlag(f, 'store', 'bit-ts worker');
  const quick = f.quick !== undefined && f.quick !== 'false';
  const n = Number(f.concurrency ?? 1);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`--concurrency must be a positive integer, got '${f.concurrency}'`);
  const threads = Number(f.threads ?? Math.max(1, Math.floor(os.availableParallelism() / n)));
  if (!Number.isInteger(threads) || threads < 1)
    throw new ConfigError(`--threads must be a positive integer, got '${f.threads}'`);
  if (n > 1) return spawnWorkers(n, threads);
  const s = loadSettings(quick, f.settings);
  const paths = protocolPaths(f, quick);
  const absent = missingData(paths);
  if (absent) {
    console.log(`skipped: ${absent} is absent (the shared data lives in ../shared/data; see docs/reproductions.md)`);
    return 3;
  }
  const backend = await useBackend('wasm', { threads });
  const ctx = prepare(s, paths, 'wasm', console.log);
  ctx.threads = 'threads' in backend ? Number(backend.threads) : 1;
  return runWorker({
    url,
    ctx,
    all: protocolRuns(s),
    imgDir: quick ? paths.results : path.resolve('docs', 'img'),
    lockMs: f.lock_ms ? Number(f.lock_ms) : undefined,
    stalledMs: f.lock_ms ? Math.max(500, Number(f.lock_ms) / 2) : undefined,
    idleExitMs: f.idle_exit_ms ? Number(f.idle_exit_ms) : 0,
  });
}

/** Start `n` single worker processes with this process's arguments; resolves with the worst exit code. */
function spawnWorkers(n: number, threads: number): Promise<number> {
  const argv = process.argv.slice(1);
  const i = argv.indexOf('--concurrency');
  const own =
    i >= 0 ? [...argv.slice(0, i), ...argv.slice(i + 2)] : argv.filter((x) => !x.startsWith('--concurrency='));
  const kids = Array.from({ length: n }, () =>
    spawn(process.execPath, [...process.execArgv, ...own, '--concurrency', '1', '--threads', String(threads)], {
      stdio: 'inherit',
    }),
  );
  const forward = (sig: NodeJS.Signals) => () => {
    for (const k of kids) k.kill(sig);
  };
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  return Promise.all(kids.map((k) => new Promise<number>((res) => k.on('exit', (c) => res(c ?? 1))))).then((c) =>
    Math.max(...c),
  );
}
