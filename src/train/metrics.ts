/**
 * Run metrics: JSON lines in `<run>/metrics.jsonl` (one record per logged step and per evaluation), read back
 * for plots and the end-of-run summary table.
 *
 * Invariants: records are appended in step order and flushed synchronously (an interrupted run keeps every
 * record written before the interrupt); a resumed run drops records past its checkpoint step first, so the file
 * matches an uninterrupted run's.
 */

import * as fs from 'node:fs';

import type { EvalRecord, MetricRecord, TrainRecord } from './core/boundary.js';

export type { EvalRecord, MetricRecord, SkipRecord, TrainRecord } from './core/boundary.js';

/** Append-only JSON-lines writer. */
export class MetricsLog {
  constructor(readonly file: string) {}

  /** Keep only records with step <= `step` (used when resuming). */
  truncateAfter(step: number): void {
    const kept = readMetrics(this.file).filter((r) => r.step <= step);
    fs.writeFileSync(this.file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  append(r: MetricRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(r)}\n`);
  }
}

/** Every record of a metrics file ([] when absent). */
export function readMetrics(file: string): MetricRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricRecord);
}

/** A plain-text table: header row, rule, rows (columns padded). */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, j) => Math.max(...cells.map((r) => (r[j] ?? '').length)));
  const numeric = (c: string) => /^[-+\d.,%/ e]+$/.test(c);
  const line = (r: string[]) =>
    r
      .map((c, j) => (j > 0 && numeric(c) ? c.padStart(w[j]!) : c.padEnd(w[j]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Short end-of-run summary of a metrics file. */
export function summarize(records: MetricRecord[]): string {
  const train = records.filter((r): r is TrainRecord => r.type === 'train');
  const evals = records.filter((r): r is EvalRecord => r.type === 'eval');
  if (train.length === 0) return '(no steps recorded)';
  const first = train[0]!;
  const last = train[train.length - 1]!;
  const tail = train.slice(-Math.max(1, Math.min(10, train.length)));
  const avg = tail.reduce((s, r) => s + r.loss, 0) / tail.length;
  const ips = train.reduce((s, r) => s + r.images_per_s, 0) / train.length;
  const rows: (string | number)[][] = [
    ['steps', last.step],
    ['first loss', first.loss.toFixed(4)],
    [`loss (mean of last ${tail.length})`, avg.toFixed(4)],
    ['images/s (mean)', ips.toFixed(1)],
    ['wall time (s)', last.time_s.toFixed(1)],
  ];
  if (evals.length) {
    const best = evals.reduce((a, b) => (b.top1 > a.top1 ? b : a));
    const fin = evals[evals.length - 1]!;
    rows.push(['final Top-1 / Top-5 (%)', `${fin.top1.toFixed(2)} / ${fin.top5.toFixed(2)}`]);
    rows.push(['final eval loss', fin.loss.toFixed(4)]);
    rows.push([`best Top-1 (%) at step ${best.step}`, best.top1.toFixed(2)]);
  }
  return formatTable(['metric', 'value'], rows);
}
