/**
 * CPU profile (V8 sampling profiler, main thread) of the first training step against a later one: self time by
 * function and by source file, so JS warm-up (interpreter, compiles), GC and page faults inside kernels show apart.
 *
 *   npx tsx bench/first-step-cpuprof.ts [--model bit-tiny] [--batch 32] [--px 32] [--top 25] [--pre bit-small:32:32] [--stack FUNCTION]
 */

import { Session } from 'node:inspector/promises';
import { useBackend } from '../src/tensor/backends/registry.js';
import type { WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { makeTrainStep } from './step.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

async function profiled(session: Session, fn: () => Promise<unknown>) {
  await session.post('Profiler.start');
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  const { profile } = (await session.post('Profiler.stop')) as unknown as {
    profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes as (Node & { children?: number[] })[])
    for (const c of n.children ?? []) parent.set(c, n.id);
  const stacks = new Map<string, number>();
  const want = opt('stack', '');
  const fnMs = new Map<string, number>();
  const fileMs = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]!)!;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/') || '(native)';
    const k = `${f.functionName || '(anon)'} ${file}:${f.lineNumber}`;
    fnMs.set(k, (fnMs.get(k) ?? 0) + dt);
    fileMs.set(file, (fileMs.get(file) ?? 0) + dt);
    if (want && f.functionName === want) {
      const chain: string[] = [];
      for (let id = parent.get(n.id); id !== undefined && chain.length < 8; id = parent.get(id)) {
        const c = byId.get(id)!.callFrame;
        chain.push(`${c.functionName || '(anon)'}@${c.url.replace(/^.*\//, '')}:${c.lineNumber}`);
      }
      const key = chain.join(' < ');
      stacks.set(key, (stacks.get(key) ?? 0) + dt);
    }
  }
  for (const [k, v] of [...stacks].sort((p, q) => q[1] - p[1]).slice(0, 5))
    console.log(`  stack ${v.toFixed(2)} ms: ${k}`);
  return { ms, fnMs, fileMs };
}

async function main() {
  const b = (await useBackend('wasm')) as WasmBackend;
  await b.ready;
  // --pre MODEL:BATCH:PX runs that row's steps first (warm JS, different shapes)
  const pre = opt('pre', '');
  if (pre) {
    const [m, bs, ps] = pre.split(':');
    const p = makeTrainStep(m!, Number(bs), Number(ps));
    for (let i = 0; i < 3; i++) await p.step();
    p.dispose();
  }
  const { step } = makeTrainStep(opt('model', 'bit-tiny'), Number(opt('batch', '32')), Number(opt('px', '32')));
  await new Promise((res) => setTimeout(res, 100));
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  const first = await profiled(session, step);
  for (let i = 0; i < 3; i++) await step();
  const later = await profiled(session, step);
  const top = Number(opt('top', '25'));
  console.log(`first ${first.ms.toFixed(1)} ms, later ${later.ms.toFixed(1)} ms`);
  const show = (title: string, a: Map<string, number>, z: Map<string, number>) => {
    console.log(title);
    const keys = [...new Set([...a.keys(), ...z.keys()])];
    keys.sort((p, q) => (a.get(q) ?? 0) - (z.get(q) ?? 0) - ((a.get(p) ?? 0) - (z.get(p) ?? 0)));
    for (const k of keys.slice(0, top)) {
      console.log(`  ${(a.get(k) ?? 0).toFixed(2).padStart(8)} ${(z.get(k) ?? 0).toFixed(2).padStart(8)}  ${k}`);
    }
  };
  show('self ms by file (first, later), by excess:', first.fileMs, later.fileMs);
  show('self ms by function (first, later), by excess:', first.fnMs, later.fnMs);
  process.exit(0);
}

await main();
