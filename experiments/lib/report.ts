/**
 * Tables and plots from the result JSONs (issue 16 protocol): upstreams, the grids, few-shot transfer from each
 * upstream vs scratch (median and range over seeds), full-data fine-tuning, head and schedule ablations,
 * miniature Table 4, cost (wall time and images/s per run kind), and the BiT-HyperRule's choices. Writes `<results>/summary.md` and the accuracy-vs-k
 * plot (SVG + PNG via vega-lite -> vega -> resvg, src/train/plots.ts) into the image folder.
 * Invariant: a pure function of the JSON files present; missing runs show as fewer seeds, never as zeros.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as vl from 'vega-lite';
import { hyperRule } from '../../src/nn/index.js';
import { renderSvg, svgToPng } from '../../src/train/plots.js';
import { scaledHyperRule } from '../../src/train/schedule.js';
import type { Settings } from './settings.js';

// biome-ignore lint/suspicious/noExplicitAny: result JSONs of several shapes, read field by field
type R = Record<string, any>;

/** Every run result in `dir`. */
export function readResults(dir: string): R[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'hyperrule.json')
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as R)
    .filter((r) => typeof r.id === 'string' && (typeof r.accuracy === 'number' || r.skipped === true));
}

/** Median, min, max of values (n = 0: nulls). */
export function stats(v: number[]): { median: number; min: number; max: number; n: number } {
  const a = [...v].sort((x, y) => x - y);
  const m = a.length;
  const median = m === 0 ? Number.NaN : m % 2 ? a[(m - 1) / 2]! : (a[m / 2 - 1]! + a[m / 2]!) / 2;
  return { median, min: a[0] ?? Number.NaN, max: a[m - 1] ?? Number.NaN, n: m };
}

const fmt = (st: ReturnType<typeof stats>) =>
  st.n === 0 ? 'not run' : `${st.median.toFixed(1)} [${st.min.toFixed(1)}-${st.max.toFixed(1)}] (n=${st.n})`;

/** The HyperRule's choices for the data sets of the reproduction, as text and JSON. */
export function hyperRuleReport(s: Settings): { text: string; json: R } {
  const cases: [string, number, number][] = [
    ['CIFAR-10 (full train, 32 px)', 50_000, 32],
    ['CIFAR-10 (our 80% train split)', 40_000, 32],
    ['Imagenette (train, 224 px)', 9469, 224],
    ['Tiny ImageNet (train, 32 px)', 101_000, 32],
    ...s.shots.map((k): [string, number, number] => [`CIFAR-10 ${k}-shot (N = ${10 * k})`, 10 * k, 32]),
  ];
  const rows = cases.map(([name, n, px]) => {
    const h = hyperRule(n, { imageSize: px });
    const ours = scaledHyperRule(n, s.finetune.scale);
    return {
      name,
      n,
      px,
      ...h,
      ours: { schedule: ours, crop: s.crop, precrop: s.precrop, batch: s.finetune.batch, lr: s.finetune.ruleLr },
    };
  });
  const lines = [
    '| data | N | resolution (resize -> crop) | steps [warmup, decays..., total] | MixUp alpha | ours (CPU): steps, crop |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.n} | ${r.resize} -> ${r.crop} | [${r.warmup}, ${r.decaySteps.join(', ')}, ${r.totalSteps}] | ${r.mixupAlpha} | [${r.ours.schedule.join(', ')}], ${r.ours.precrop} -> ${r.ours.crop} |`,
    );
  }
  return { text: lines.join('\n'), json: { finetuneScale: s.finetune.scale, rows } };
}

const byId = (rs: R[], re: RegExp) => rs.filter((r) => re.test(r.id) && typeof r.accuracy === 'number');
const accs = (rs: R[]) => rs.map((r) => r.accuracy as number);
const st = (rs: R[], re: RegExp) => stats(accs(byId(rs, re)));

const INITS = [
  ['tiny', 'transfer from Tiny ImageNet (202 classes)'],
  ['imagenette', 'transfer from Imagenette (10 classes)'],
  ['scratch', 'scratch (own lr/steps grid)'],
] as const;

async function plot(rows: R[], dir: string, model: string, log: (m: string) => void): Promise<string[]> {
  if (rows.length === 0) return [];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `CIFAR-10 few-shot top-1 vs k (${model}, 32 px; median and range over seeds)`,
    width: 480,
    height: 300,
    background: 'white',
    data: { values: rows },
    encoding: {
      x: {
        field: 'k',
        type: 'quantitative',
        scale: { type: 'log', domain: [0.8, Math.max(...rows.map((r) => r.k as number)) * 1.25] },
        title: 'examples per class (k)',
        axis: { values: [1, 2, 5, 10, 20, 50, 100] },
      },
      color: { field: 'init', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400, columns: 1 } },
    },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: { y: { field: 'median', type: 'quantitative', title: 'top-1 accuracy (%)' } },
      },
      {
        mark: { type: 'rule', strokeWidth: 2, opacity: 0.6 },
        encoding: { y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } },
      },
    ],
  } as unknown as vl.TopLevelSpec;
  fs.mkdirSync(dir, { recursive: true });
  const svg = await renderSvg(spec);
  const base = path.join(dir, 'fewshot-accuracy-vs-k');
  fs.writeFileSync(`${base}.svg`, svg);
  fs.writeFileSync(`${base}.png`, svgToPng(svg));
  log(`plot: ${base}.{svg,png}`);
  return [`${base}.svg`, `${base}.png`];
}

const cfgLine = (r: R | undefined) =>
  r ? `${r.config.model}, ${r.train.steps} steps x ${r.train.batch}, lr ${r.config.lr}` : 'not run';

/** Write summary.md (tables) and the accuracy-vs-k plot; returns the markdown. */
export async function writeReport(s: Settings, dir: string, imgDir: string, log: (m: string) => void): Promise<string> {
  const rs = readResults(dir);
  const get = (id: string) => rs.find((r) => r.id === id);
  const out: string[] = [`# Reproduction results (${s.quick ? 'QUICK: machinery check only' : 'full protocol'})`, ''];
  out.push(
    '## Upstreams (GN+WS, from scratch)',
    '',
    '| upstream | run | top-1 % | top-5 % | evaluated on | wall min |',
    '|---|---|---|---|---|---|',
  );
  for (const [id, name] of [
    ['up-tiny', 'Tiny ImageNet'],
    ['up-imagenette', 'Imagenette'],
  ]) {
    const r = get(id!);
    out.push(
      r
        ? `| ${name} | ${cfgLine(r)} | ${r.accuracy.toFixed(2)} | ${r.top5.toFixed(2)} | ${r.evalCount} images | ${(r.wallS / 60).toFixed(1)} |`
        : `| ${name} | not run | | | | |`,
    );
  }
  out.push('', `## Grids (scored on ${s.pilotEvalCount} pilot images from the CIFAR-10 training part)`, '');
  const tg = byId(rs, /^grid-transfer-/).sort((a, b) => a.config.lr - b.config.lr);
  if (tg.length) {
    out.push(
      `Transfer lr (Tiny ImageNet upstream, k = ${s.finetune.pilotShots}): ` +
        tg.map((r) => `lr ${r.config.lr}: ${r.accuracy.toFixed(1)}%`).join('; '),
      '',
    );
  }
  for (const k of s.shots) {
    const g = byId(rs, new RegExp(`^grid-scratch-k${k}-`));
    if (!g.length) continue;
    const ext = get(`grid-scratch-k${k}-ext`);
    out.push(
      `Scratch k = ${k}: ` +
        g.map((r) => `lr ${r.choice.lr} x ${r.choice.steps} steps: ${r.accuracy.toFixed(1)}%`).join('; ') +
        (ext?.skipped ? ` (no extension: ${ext.reason})` : ''),
      '',
    );
  }
  const plotRows: R[] = [];
  out.push(
    '## Few-shot CIFAR-10 (top-1 %, median [min-max] over seeds; HyperRule, zero head, the rule lr for transfer)',
    '',
    `| k | ${INITS.map(([, n]) => n).join(' | ')} | gain Tiny vs scratch | gain Tiny vs Imagenette |`,
    `|---|${INITS.map(() => '---|').join('')}---|---|`,
  );
  for (const k of s.shots) {
    const c = INITS.map(([init]) => st(rs, new RegExp(`^fewshot-${init}-k${k}-s\\d+$`)));
    const gain = (a: ReturnType<typeof stats>, b: ReturnType<typeof stats>) =>
      a.n && b.n ? (a.median - b.median).toFixed(1) : '-';
    out.push(`| ${k} | ${c.map(fmt).join(' | ')} | ${gain(c[0]!, c[2]!)} | ${gain(c[0]!, c[1]!)} |`);
    INITS.forEach(([, name], i) => {
      if (c[i]!.n) plotRows.push({ k, init: name, ...c[i]! });
    });
  }
  out.push(
    '',
    '## Full CIFAR-10 training part (HyperRule N = 40k: MixUp, reduced steps)',
    '',
    '| init | top-1 % |',
    '|---|---|',
  );
  for (const [init, name] of INITS) out.push(`| ${name} | ${fmt(st(rs, new RegExp(`^full-${init}-s\\d+$`)))} |`);
  const h = s.head.shots;
  out.push(
    '',
    `## Head init at k = ${h} (Tiny ImageNet upstream)`,
    '',
    '| head | rule lr | tuned lr |',
    '|---|---|---|',
    `| zero (BiT) | ${fmt(st(rs, new RegExp(`^fewshot-tiny-k${h}-s\\d+$`)))} | ${fmt(st(rs, new RegExp(`^head-zero-tuned-k${h}-s\\d+$`)))} |`,
    `| N(0, 0.01) | ${fmt(st(rs, new RegExp(`^head-normal-rule-k${h}-s\\d+$`)))} | ${fmt(st(rs, new RegExp(`^head-normal-tuned-k${h}-s\\d+$`)))} |`,
    '',
    `## Schedule: HyperRule (${Math.round(500 * s.finetune.scale)} steps) vs fixed ${s.schedule.fixedSteps} steps for every k`,
    '',
    '| k | HyperRule | fixed |',
    '|---|---|---|',
  );
  for (const k of s.schedule.shots) {
    out.push(
      `| ${k} | ${fmt(st(rs, new RegExp(`^fewshot-tiny-k${k}-s\\d+$`)))} | ${fmt(st(rs, new RegExp(`^sched-fixed-k${k}-s\\d+$`)))} |`,
    );
  }
  out.push(
    '',
    `## Miniature Table 4 (Tiny ImageNet upstream, ${s.table4.steps} steps x ${s.table4.batch}; BN statistics per ${s.table4.variants[0]?.ghostBatch} images)`,
    '',
    `| variant | upstream top-1 % (val.tar) | transfer to CIFAR-10 k = ${s.table4.transferShots} |`,
    '|---|---|---|',
  );
  for (const v of s.table4.variants) {
    const up = get(`t4-up-${v.name}`);
    out.push(
      `| ${v.name.toUpperCase().replace('-', '+')} | ${up ? up.accuracy.toFixed(2) : 'not run'} | ${fmt(st(rs, new RegExp(`^t4-tr-${v.name}-k\\d+-s\\d+$`)))} |`,
    );
  }
  out.push(
    '',
    '## Cost (this machine)',
    '',
    '| runs | count | wall s (mean) | train img/s (median step, mean) |',
    '|---|---|---|---|',
  );
  const groups = new Map<string, R[]>();
  for (const r of rs.filter((x) => x.train)) {
    const key = r.id
      .replace(/-s\d+$/, '')
      .replace(/-k\d+.*$/, '')
      .replace(/-lr.*$/, '');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  for (const [name, g] of [...groups].sort()) {
    out.push(
      `| ${name} | ${g.length} | ${mean(g.map((r) => r.wallS)).toFixed(1)} | ${mean(g.map((r) => r.train.imagesPerS)).toFixed(0)} |`,
    );
  }
  const total = rs.reduce((a, r) => a + (r.wallS as number), 0);
  out.push(
    '',
    `Total wall time of the ${rs.length} runs: ${(total / 60).toFixed(1)} min.`,
    '',
    '## BiT-HyperRule choices',
    '',
    hyperRuleReport(s).text,
    '',
  );
  const md = out.join('\n');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'summary.md'), md);
  await plot(plotRows, imgDir, s.model, log);
  log(md);
  return md;
}
