/**
 * Training plots without a browser: vega-lite spec -> vega View (renderer 'none') -> SVG string -> PNG via
 * resvg. Three charts per run: loss (per logged step, with eval loss), accuracy (Top-1/Top-5 per
 * evaluation) and lr (per step), written as `<name>.svg` and `<name>.png` in the run directory.
 *
 * Invariants: pure function of the metric records; a chart without data is skipped, never an empty file.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { EvalRecord, MetricRecord, TrainRecord } from './metrics.js';

type Row = Record<string, number | string>;

function lineSpec(title: string, rows: Row[], y: string, opts: { logY?: boolean } = {}): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 480,
    height: 260,
    background: 'white',
    data: { values: rows },
    mark: { type: 'line', point: rows.length < 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: y, scale: opts.logY ? { type: 'symlog' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: null },
    },
  } as vl.TopLevelSpec;
}

/** SVG text of a vega-lite spec. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG bytes of an SVG string. */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: 'white' }).render().asPng();
}

/**
 * Write loss, accuracy and lr charts (SVG + PNG) to `dir`.
 * @returns the written file paths.
 */
export async function writePlots(dir: string, records: MetricRecord[], title = ''): Promise<string[]> {
  const train = records.filter((r): r is TrainRecord => r.type === 'train');
  const evals = records.filter((r): r is EvalRecord => r.type === 'eval');
  const t = title ? `${title}: ` : '';
  const charts: [string, vl.TopLevelSpec | null][] = [
    [
      'loss',
      train.length
        ? lineSpec(
            `${t}loss`,
            [
              ...train.map((r) => ({ step: r.step, value: r.loss, series: 'train loss' })),
              ...evals.map((r) => ({ step: r.step, value: r.loss, series: 'eval loss' })),
            ],
            'cross-entropy',
          )
        : null,
    ],
    [
      'accuracy',
      evals.length
        ? lineSpec(
            `${t}accuracy`,
            [
              ...evals.map((r) => ({ step: r.step, value: r.top1, series: 'Top-1' })),
              ...evals.map((r) => ({ step: r.step, value: r.top5, series: 'Top-5' })),
            ],
            'accuracy (%)',
          )
        : null,
    ],
    [
      'lr',
      train.length
        ? lineSpec(
            `${t}learning rate`,
            train.map((r) => ({ step: r.step, value: r.lr, series: 'lr' })),
            'lr',
          )
        : null,
    ],
  ];
  const out: string[] = [];
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, spec] of charts) {
    if (!spec) continue;
    const svg = await renderSvg(spec);
    const svgFile = path.join(dir, `${name}.svg`);
    const pngFile = path.join(dir, `${name}.png`);
    fs.writeFileSync(svgFile, svg);
    fs.writeFileSync(pngFile, svgToPng(svg));
    out.push(svgFile, pngFile);
  }
  return out;
}

/** A grouped bar chart of accuracy per method and k (the demo / few-shot comparison), SVG + PNG. */
export async function writeComparisonPlot(
  file: string,
  rows: { method: string; k: string; top1: number }[],
  title: string,
): Promise<string[]> {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 360,
    height: 240,
    background: 'white',
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'k', type: 'nominal', title: 'examples per class', sort: null },
      xOffset: { field: 'method' },
      y: { field: 'top1', type: 'quantitative', title: 'held-out Top-1 (%)', scale: { domain: [0, 100] } },
      color: { field: 'method', type: 'nominal' },
    },
  } as vl.TopLevelSpec;
  const svg = await renderSvg(spec);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.svg`, svg);
  fs.writeFileSync(`${file}.png`, svgToPng(svg));
  return [`${file}.svg`, `${file}.png`];
}
