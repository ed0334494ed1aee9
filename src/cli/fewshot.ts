/**
 * `bit-ts fewshot [finetune options] --shots 1,5,10 --seeds 5`: the few-shot protocol of the paper: for every k,
 * fine-tune (BiT-HyperRule) on k examples per class drawn with seeds 0..seeds-1 and report the median and range
 * of the held-out Top-1 accuracy. Results also go to `<ckpt_save_dir>/fewshot.json`.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { setupBackend } from '../train/backend-setup.js';
import { formatTable } from '../train/metrics.js';
import { train } from '../train/trainer.js';
import { type Args, intFlag, take } from './args.js';
import { finetuneFromFlags } from './finetune.js';

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Run the command; returns the exit code. */
export async function fewshotCommand(args: Args): Promise<number> {
  const flags = { ...args.flags };
  const shots = (take(flags, 'shots') ?? '1,5,10').split(',').map((s) => Number(s.trim()));
  if (shots.some((k) => !Number.isInteger(k) || k < 1))
    throw new ConfigError('--shots must be positive integers, e.g. 1,5,10');
  const seeds = intFlag(take(flags, 'seeds'), 'seeds', 5);
  // 0 seeds would train nothing and print a NaN / Infinity / -Infinity row
  if (seeds < 1) throw new ConfigError(`--seeds must be at least 1 (draws per k), got ${seeds}`);
  const root = take(flags, 'ckpt_save_dir') ?? 'runs/fewshot';
  const results: { k: number; seed: number; top1: number }[] = [];
  let backendShown = false;
  for (const k of shots) {
    for (let s = 0; s < seeds; s++) {
      const { cfg, lines } = finetuneFromFlags({
        ...flags,
        examples_per_class: String(k),
        seed: String(s),
        ckpt_save_dir: path.join(root, `k${k}-seed${s}`),
        progress: flags.progress ?? 'none',
      });
      if (!backendShown) {
        console.log(`backend: ${await setupBackend(cfg.backend, cfg.threads)}`);
        backendShown = true;
      }
      console.log(`\n== ${k}-shot, seed ${s}\n${lines.join('\n')}`);
      const r = await train(cfg, {
        label: `${k}-shot seed ${s}`,
        log: () => {},
        overwrite: args.flags.overwrite === 'true',
      });
      if (r.status !== 'completed' || !r.final) {
        console.error(`${k}-shot seed ${s}: ${r.message}`);
        return r.exitCode || 1;
      }
      console.log(`${k}-shot seed ${s}: Top-1 ${r.final.top1.toFixed(2)}%`);
      results.push({ k, seed: s, top1: r.final.top1 });
    }
  }
  const summary = shots.map((k) => {
    const v = results.filter((r) => r.k === k).map((r) => r.top1);
    return { k, median: median(v), min: Math.min(...v), max: Math.max(...v), seeds: v.length };
  });
  const rows = summary.map((q) => [q.k, q.median.toFixed(2), q.min.toFixed(2), q.max.toFixed(2), q.seeds]);
  console.log(`\n${formatTable(['k (per class)', 'median Top-1 %', 'min', 'max', 'seeds'], rows)}`);
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, 'fewshot.json'), JSON.stringify({ summary, results }, null, 2));
  console.log(`results: ${path.join(root, 'fewshot.json')}`);
  return 0;
}
