/**
 * `npm run gpu:check`: the one prepared check of the WebGPU path, for a machine with a GPU (or, to prove the
 * path, a software adapter). It
 *   1. finds an adapter: a hardware Vulkan driver if one is installed, else Debian chromium's SwiftShader ICD
 *      (VK_ICD_FILENAMES), and prints `bit-ts backends` (vendor, architecture, device type, requested limits);
 *   2. runs the conformance suite, the gpu.js unit tests and the webgpu training tests with BIT_REQUIRE_WEBGPU=1
 *      (a missing adapter fails) and counts passes/failures on gpujs-webgpu;
 *   3. runs the kernel and training-step benches on gpujs-webgpu next to wasm in the same run;
 *   4. prints one summary (a timed-out test is reported as "timed out after N s", not as vitest's placeholder
 *      "Error: STACK_TRACE_ERROR": ./gpu-check-summary.ts); on a hardware adapter it also writes
 *      bench/results/<date>-gpu-check.json.
 * Flags: --quick (fewer bench shapes), --no-tests, --no-bench. BIT_GPU_FULL=1 adds the batch 8 x 128 px step.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summarizeTests, type TestSummary, type VitestJson } from './gpu-check-summary.js';
import type { BenchRow } from './shapes.js';

const ROOT = path.join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const env: NodeJS.ProcessEnv = { ...process.env, BIT_REQUIRE_WEBGPU: '1' };

/** Whether gpujs-webgpu finds an adapter with the current environment (asks `bit-ts backends --json`). */
function webgpuAvailable(): boolean {
  const r = run('node', ['bin/bit-ts.js', 'backends', '--json'], 120_000);
  try {
    const j = JSON.parse(r.out.slice(r.out.indexOf('{'))) as { backends: { name: string; available: boolean }[] };
    return j.backends.some((b) => b.name === 'gpujs-webgpu' && b.available);
  } catch {
    return false;
  }
}

/** Use the machine's own Vulkan driver when it gives an adapter, else Debian chromium's SwiftShader ICD. */
function setupAdapterEnv(): string {
  if (!env.XDG_RUNTIME_DIR || !fs.existsSync(env.XDG_RUNTIME_DIR)) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-xdg-'));
    fs.chmodSync(d, 0o700);
    env.XDG_RUNTIME_DIR = d;
  }
  if (webgpuAvailable()) return 'the Vulkan driver(s) configured on this machine';
  const ss = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (fs.existsSync(ss)) {
    env.VK_ICD_FILENAMES = ss;
    return `no adapter from this machine's drivers: using the SwiftShader software adapter (${ss})`;
  }
  return 'no adapter and no SwiftShader ICD (apt-get install chromium libvulkan1 gives a software adapter)';
}

function run(cmd: string, a: string[], timeoutMs: number) {
  const r = spawnSync(cmd, a, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26 });
  // spawnSync's own time limit: the child is killed and error.code is ETIMEDOUT.
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', timedOut, limitS: timeoutMs / 1000 };
}

function tests(): TestSummary {
  const out = path.join(os.tmpdir(), `bit-ts-gpu-check-${process.pid}.json`);
  const r = run(
    'npx',
    [
      'vitest',
      'run',
      'test/conformance',
      'test/tensor/backends/gpujs',
      'test/train/webgpu-train.test.ts',
      'test/train/webgpu-nan-guard.test.ts',
      '--reporter=json',
      `--outputFile=${out}`,
    ],
    30 * 60_000,
  );
  if (!fs.existsSync(out)) {
    const why = r.timedOut
      ? `the test run timed out after ${r.limitS} s (killed by gpu:check) before vitest wrote its report`
      : `vitest wrote no report (exit ${r.code}): ${r.err.trim().split('\n').slice(-1)[0] ?? ''}`;
    return { passed: 0, failed: 1, skipped: 0, webgpu: 0, timedOut: r.timedOut ? 1 : 0, failures: [why] };
  }
  return summarizeTests(JSON.parse(fs.readFileSync(out, 'utf8')) as VitestJson);
}

type Row = Pick<BenchRow, 'bench' | 'backend' | 'shape' | 'first_ms' | 'ms' | 'gflops'>;

function bench(): Row[] {
  const a = ['tsx', 'bench/run.ts', '--backends', 'gpujs-webgpu,wasm', '--json'];
  if (quick) a.push('--quick');
  const r = run('npx', a, 60 * 60_000);
  if (r.timedOut) console.log(`bench: timed out after ${r.limitS} s (killed by gpu:check); rows so far are kept`);
  return r.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Row);
}

const adapterNote = setupAdapterEnv();
console.log(`adapter: ${adapterNote}`);
const be = run('node', ['bin/bit-ts.js', 'backends'], 120_000);
console.log(be.out.trim());
const hardware = /device type gpu/.test(be.out);
const summary: string[] = [];
let failed = false;
if (!args.includes('--no-tests')) {
  const t = tests();
  const timeouts = t.timedOut > 0 ? ` (${t.timedOut} timed out)` : '';
  summary.push(
    `tests: ${t.passed} passed, ${t.failed} failed${timeouts}, ${t.skipped} skipped; ${t.webgpu} passed tests ran on gpujs-webgpu`,
  );
  for (const f of t.failures.slice(0, 20)) summary.push(`  FAILED ${f}`);
  failed ||= t.failed > 0 || t.webgpu === 0;
}
let rows: Row[] = [];
if (!args.includes('--no-bench')) {
  rows = bench();
  const wasm = new Map(rows.filter((r) => r.backend === 'wasm').map((r) => [`${r.bench}|${r.shape}`, r]));
  summary.push(
    '',
    '| bench | shape | webgpu first ms | webgpu ms | webgpu GFLOP/s | wasm ms | wasm GFLOP/s |',
    '|---|---|---|---|---|---|---|',
  );
  for (const r of rows.filter((x) => x.backend === 'gpujs-webgpu')) {
    const w = wasm.get(`${r.bench}|${r.shape}`);
    const g = (v: number | null | undefined) => (v == null ? '' : v.toFixed(2));
    summary.push(
      `| ${r.bench} | ${r.shape} | ${r.first_ms.toFixed(1)} | ${r.ms.toFixed(2)} | ${g(r.gflops)} | ${w ? w.ms.toFixed(2) : ''} | ${g(w?.gflops)} |`,
    );
  }
  if (!rows.some((r) => r.backend === 'gpujs-webgpu')) {
    summary.push('no gpujs-webgpu bench rows (adapter unavailable?)');
    failed = true;
  }
}
console.log(
  `\n== gpu:check summary (${hardware ? 'hardware adapter' : 'software adapter: proves the path, not a speed'})`,
);
console.log(summary.join('\n'));
if (hardware && rows.length) {
  const file = path.join(ROOT, 'bench/results', `${new Date().toISOString().slice(0, 10)}-gpu-check.json`);
  fs.writeFileSync(file, `${JSON.stringify({ backends: be.out, summary, rows }, null, 1)}\n`);
  console.log(`saved ${file}`);
}
process.exit(failed ? 1 : 0);
