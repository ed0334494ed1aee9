/**
 * Start-up time of the `bit-ts` command, from the TypeScript sources through tsx (what bin/bit-ts.js always did
 * before issue 26, `BIT_TS_RUN=source`) against the compiled dist/ (what the installed package runs,
 * `BIT_TS_RUN=dist`; in a clone this includes the check that dist/ is not older than the sources). Each round runs
 * every command once per mode, alternating which mode goes first, in fresh processes; reports wall-clock median,
 * min and max per command and mode, the median CPU time (user + system) of the child where Linux's /proc/self/stat
 * gives it (less sensitive than wall time to other load), and the load average before and after (shared machine).
 *
 *   npx tsx bench/cli-startup.ts [--rounds 7] [--json FILE]
 * Needs a built dist/ (`npm run build`).
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'bit-ts.js');
const COMMANDS = [['--help'], ['models']];
const MODES = ['source', 'dist'] as const;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** CPU ms (user + system) of this process's waited-for children, from /proc/self/stat; NaN elsewhere. */
function childrenCpuMs(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // after the command name: state is field 3; cutime and cstime are fields 16 and 17, in ticks (100 Hz on Linux)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Wall-clock and CPU ms of one fresh `node bin/bit-ts.js ...args` in the given mode; throws on a failed run. */
function once(mode: string, args: string[]): { wall: number; cpu: number } {
  const c0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, BIT_TS_RUN: mode },
    encoding: 'utf8',
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`bit-ts ${args.join(' ')} (${mode}) exited ${r.status}: ${r.stderr}`);
  return { wall, cpu: childrenCpuMs() - c0 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
  console.error('no dist/: run `npm run build` first');
  process.exit(1);
}
const rounds = Number(flag('rounds') ?? 7);
const loadBefore = os.loadavg();
const times = new Map<string, number[]>();
const cpuTimes = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...MODES].reverse() : MODES;
  for (const args of COMMANDS) {
    for (const mode of order) {
      const key = `${args.join(' ')}|${mode}`;
      const t = once(mode, args);
      times.set(key, [...(times.get(key) ?? []), t.wall]);
      cpuTimes.set(key, [...(cpuTimes.get(key) ?? []), t.cpu]);
    }
  }
}
const loadAfter = os.loadavg();
const rows = [...times].map(([key, ms]) => {
  const [command, mode] = key.split('|');
  const cpuMs = cpuTimes.get(key) ?? [];
  const wall = { medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms) };
  return { command, mode, ...wall, cpuMedianMs: median(cpuMs), ms, cpuMs };
});
console.log(
  `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}, ${rounds} alternating rounds, ` +
    `load average ${loadBefore[0]?.toFixed(1)} before, ${loadAfter[0]?.toFixed(1)} after`,
);
for (const r of rows) {
  console.log(
    `bit-ts ${r.command.padEnd(7)} ${r.mode.padEnd(6)} median ${r.medianMs.toFixed(0).padStart(5)} ms ` +
      `(min ${r.minMs.toFixed(0)}, max ${r.maxMs.toFixed(0)}); CPU median ${r.cpuMedianMs.toFixed(0)} ms`,
  );
}
const out = flag('json');
if (out) {
  const doc = {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    node: process.version,
    rounds,
    loadBefore,
    loadAfter,
    rows,
  };
  fs.writeFileSync(`${out}.tmp`, `${JSON.stringify(doc, null, 1)}\n`);
  fs.renameSync(`${out}.tmp`, out);
}
