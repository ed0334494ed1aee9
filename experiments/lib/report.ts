/**
 * Tables and plots from the result JSONs: few-shot transfer vs scratch (median and range over seeds), the
 * head-init ablation, miniature Table 4, the lr pilot, cost (wall time and images/s per run kind and backend),
 * and the BiT-HyperRule's choices for the datasets involved. Writes `<results>/summary.md` and the accuracy-vs-k
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
    .filter((r) => typeof r.id === 'string' && typeof r.accuracy === 'number');
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
    ...s.shots.map((k): [string, number, number] => [`CIFAR-10 ${k}-shot (N = ${10 * k})`, 10 * k, 32]),
  ];
  const rows = cases.map(([name, n, px]) => {
    const h = hyperRule(n, { imageSize: px });
    const ours = scaledHyperRule(n, s.finetune.scale);
    return { name, n, px, ...h, ours: { schedule: ours, crop: s.crop, precrop: s.precrop, batch: s.finetune.batch } };
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

const byId = (rs: R[], re: RegExp) => rs.filter((r) => re.test(r.id));
const accs = (rs: R[]) => rs.map((r) => r.accuracy as number);

async function plot(rows: R[], dir: string, log: (m: string) => void): Promise<string[]> {
  if (rows.length === 0) return [];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'CIFAR-10 few-shot: BiT transfer vs scratch (bit-tiny, 32 px; median, range over seeds)',
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
      color: { field: 'init', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400 } },
      strokeDash: { field: 'schedule', type: 'nominal', title: 'fine-tuning', legend: { orient: 'bottom' } },
      detail: { field: 'schedule', type: 'nominal' },
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
  const base = path.join(dir, 'fewshot-transfer-vs-scratch');
  fs.writeFileSync(`${base}.svg`, svg);
  fs.writeFileSync(`${base}.png`, svgToPng(svg));
  log(`plot: ${base}.{svg,png}`);
  return [`${base}.svg`, `${base}.png`];
}

/** Write summary.md (tables) and the plot; returns the markdown. */
export async function writeReport(s: Settings, dir: string, imgDir: string, log: (m: string) => void): Promise<string> {
  const rs = readResults(dir);
  const out: string[] = [`# Reproduction results (${s.quick ? 'QUICK: machinery check only' : 'full protocol'})`, ''];
  const up = rs.find((r) => r.id === 'upstream-gn-ws');
  if (up)
    out.push(
      `Upstream: ${up.config.model} GN+WS on Imagenette, ${up.config.steps} steps x ${up.config.batch}: top-1 ${up.accuracy.toFixed(1)}% on ${up.evalCount} held-out images, ${up.train.wallS.toFixed(0)} s (${up.train.imagesPerS.toFixed(0)} img/s train).`,
      '',
    );
  const pilot = byId(rs, /^pilot-/).sort((a, b) => a.config.lr - b.config.lr);
  if (pilot.length) {
    out.push(
      '## Fine-tuning lr pilot (k = 10, transfer, pilot images from the training split)',
      '',
      '| lr | pilot accuracy |',
      '|---|---|',
    );
    for (const p of pilot) out.push(`| ${p.config.lr} | ${p.accuracy.toFixed(1)} |`);
    out.push('');
  }
  const plotRows: R[] = [];
  out.push(
    '## Few-shot CIFAR-10: transfer vs scratch (top-1 %, median [min-max] over seeds)',
    '',
    '| k | transfer (BiT upstream) | scratch (random init) | median gain |',
    '|---|---|---|---|',
  );
  for (const k of s.shots) {
    const t = stats(accs(byId(rs, new RegExp(`^fewshot-transfer-k${k}-s\\d+$`))));
    const c = stats(accs(byId(rs, new RegExp(`^fewshot-scratch-k${k}-s\\d+$`))));
    out.push(`| ${k} | ${fmt(t)} | ${fmt(c)} | ${t.n && c.n ? (t.median - c.median).toFixed(1) : '-'} |`);
    if (t.n)
      plotRows.push({
        k,
        init: 'transfer (Imagenette upstream)',
        schedule: `${Math.round(500 * s.finetune.scale)} steps`,
        ...t,
      });
    if (c.n)
      plotRows.push({
        k,
        init: 'scratch (random init)',
        schedule: `${Math.round(500 * s.finetune.scale)} steps`,
        ...c,
      });
  }
  out.push('');
  if (s.long && byId(rs, /^long-/).length) {
    const steps = Math.round(500 * s.long.scale);
    out.push(
      `## Few-shot CIFAR-10 with the ${steps}-step schedule (HyperRule x ${s.long.scale})`,
      '',
      '| k | transfer | scratch | median gain |',
      '|---|---|---|---|',
    );
    for (const k of s.shots) {
      const t = stats(accs(byId(rs, new RegExp(`^long-transfer-k${k}-s\\d+$`))));
      const c = stats(accs(byId(rs, new RegExp(`^long-scratch-k${k}-s\\d+$`))));
      out.push(`| ${k} | ${fmt(t)} | ${fmt(c)} | ${t.n && c.n ? (t.median - c.median).toFixed(1) : '-'} |`);
      if (t.n) plotRows.push({ k, init: 'transfer (Imagenette upstream)', schedule: `${steps} steps`, ...t });
      if (c.n) plotRows.push({ k, init: 'scratch (random init)', schedule: `${steps} steps`, ...c });
    }
    out.push('');
  }
  const z = stats(accs(byId(rs, new RegExp(`^fewshot-transfer-k${s.headShots}-s\\d+$`))));
  const d = stats(accs(byId(rs, new RegExp(`^head-default-k${s.headShots}-s\\d+$`))));
  out.push(
    `## Head init at k = ${s.headShots} (transfer)`,
    '',
    '| head | top-1 % |',
    '|---|---|',
    `| zero (BiT) | ${fmt(z)} |`,
    `| default N(0, 0.01) | ${fmt(d)} |`,
    '',
  );
  out.push(
    '## Miniature Table 4',
    '',
    '| variant | scratch on CIFAR-10 (top-1 %) | transfer to Imagenette k = 10 (top-1 %) |',
    '|---|---|---|',
  );
  for (const v of s.table4.variants) {
    const sc = stats(accs(byId(rs, new RegExp(`^table4-scratch-${v}(-s\\d+)?$`))));
    const tr = stats(accs(byId(rs, new RegExp(`^table4-transfer-${v}-k\\d+-s\\d+$`))));
    out.push(`| ${v.toUpperCase().replace('-', '+')} | ${fmt(sc)} | ${fmt(tr)} |`);
  }
  out.push(
    '',
    '## Cost (this machine, backend per run)',
    '',
    '| runs | backend | count | train wall s (mean) | train img/s (mean) | eval img/s (mean) |',
    '|---|---|---|---|---|---|',
  );
  const groups = new Map<string, R[]>();
  for (const r of rs) {
    const key = `${r.id
      .replace(/-s\d+$/, '')
      .replace(/-k\d+$/, '')
      .replace(/-lr.*$/, '')}|${r.backend}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  for (const [key, g] of [...groups].sort()) {
    const [name, be] = key.split('|');
    out.push(
      `| ${name} | ${be} | ${g.length} | ${mean(g.map((r) => r.train.wallS)).toFixed(1)} | ${mean(g.map((r) => r.train.imagesPerS)).toFixed(0)} | ${mean(g.map((r) => r.evalCount / r.evalWallS)).toFixed(0)} |`,
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
  await plot(plotRows, imgDir, log);
  log(md);
  return md;
}
