/**
 * Panels of the study page that are pure drawing from data (no page state): the GroupNorm statistics table, the
 * labelled digit grids (k-shot training set, held-out predictions) and the per-filter mean/std chart of WS.
 */

import { filterMoments } from './filters.js';
import type { GnRow, StemFilters } from './lib/insight.js';
import { drawChart } from './plot.js';

/** The GroupNorm statistics table (input mean/std per layer, per-group moments after normalization). */
export function gnTable(rows: GnRow[]): string {
  const bar = (v: number, max: number) =>
    `<span style="display:inline-block;height:8px;width:${Math.min(80, (80 * v) / max).toFixed(0)}px;background:#69c"></span>`;
  const maxStd = Math.max(...rows.map((r) => r.inStd), 1e-9);
  const body = rows
    .map(
      (r) =>
        `<tr><td style="text-align:left">${r.name}</td><td>${r.channels}/${r.groups}</td><td>${r.inMean.toFixed(3)}</td>` +
        `<td>${r.inStd.toFixed(3)} ${bar(r.inStd, maxStd)}</td><td>${r.normMaxAbsMean.toExponential(1)}</td>` +
        `<td>${r.normStdMin.toFixed(4)}-${r.normStdMax.toFixed(4)}</td></tr>`,
    )
    .join('');
  return (
    '<table class="small"><tr><th style="text-align:left">layer</th><th>ch/groups</th><th>input mean</th>' +
    `<th>input std</th><th>max |group mean| after GN</th><th>group std after GN</th></tr>${body}</table>`
  );
}

/** A grid of 28x28 digits (1.5x), each with its caption; `right` frames each green (right) or red (wrong). */
export function digitGrid(canvas: HTMLCanvasElement, pixels: Uint8Array, text: string[], right?: boolean[]): void {
  const n = text.length;
  const cols = Math.min(10, Math.max(1, n));
  const cell = 60;
  canvas.width = cols * cell;
  canvas.height = Math.ceil(n / cols) * cell;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const img = ctx.createImageData(28, 28);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < 784; i++)
      img.data.set([pixels[k * 784 + i]!, pixels[k * 784 + i]!, pixels[k * 784 + i]!, 255], i * 4);
    const ox = (k % cols) * cell + 2;
    const oy = Math.floor(k / cols) * cell + 2;
    const tmp = document.createElement('canvas');
    tmp.width = 28;
    tmp.height = 28;
    tmp.getContext('2d')!.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, ox, oy, 42, 42);
    if (right) {
      ctx.strokeStyle = right[k] ? '#2a2' : '#d22';
      ctx.lineWidth = 3;
      ctx.strokeRect(ox + 1, oy + 1, 40, 40);
    }
    ctx.fillStyle = right && !right[k] ? '#d22' : '#222';
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText(text[k]!, ox, oy + 54);
  }
}

/** Per-filter mean and std of the stem filters, raw (squares) and standardized (dots), on one chart. */
export function drawWsChart(svg: SVGSVGElement, filters: StemFilters): void {
  const fm = filterMoments(filters);
  const pts = (v: { mean: number; std: number }[], k: 'mean' | 'std') => v.map((s, i) => [i, s[k]] as [number, number]);
  drawChart(
    svg,
    [
      { name: 'raw std', color: '#e08', points: pts(fm.raw, 'std'), marker: 'square' },
      { name: 'WS std', color: '#e08', points: pts(fm.ws, 'std') },
      { name: 'raw mean', color: '#08c', points: pts(fm.raw, 'mean'), marker: 'square' },
      { name: 'WS mean', color: '#08c', points: pts(fm.ws, 'mean') },
    ],
    { title: 'stem filters: per-filter mean and std, raw vs WS', xLabel: 'filter', dots: true },
  );
}
