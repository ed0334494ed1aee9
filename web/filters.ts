/**
 * Renders the stem filters (from ./lib/insight.ts) onto canvases: each of the out-channel 7x7 RGB filters as a
 * tile, with ONE scale for all tiles of a panel (per-filter scaling would hide exactly what WS changes: WS is a
 * per-filter affine map, so the standardized panel shows every filter at the same contrast and zero mean, the raw
 * panel shows how their scales and offsets differ). Also a table of per-filter mean / std before and after, and
 * those numbers as arrays for the page's chart (`filterMoments`).
 */

import { moments, type StemFilters } from './lib/insight.js';

function panel(canvas: HTMLCanvasElement, w: Float32Array, shape: number[], zoom: number): void {
  const [o, c, kh, kw] = shape as [number, number, number, number];
  const cols = 8;
  const rows = Math.ceil(o / cols);
  const pad = 2;
  canvas.width = cols * (kw * zoom + pad);
  canvas.height = rows * (kh * zoom + pad);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#222';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let m = 1e-12;
  for (const v of w) m = Math.max(m, Math.abs(v));
  for (let f = 0; f < o; f++) {
    const ox = (f % cols) * (kw * zoom + pad);
    const oy = Math.floor(f / cols) * (kh * zoom + pad);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const px = [0, 1, 2].map((ch) => {
          const v = w[((f * c + Math.min(ch, c - 1)) * kh + i) * kw + j]!;
          return Math.round(127.5 + (127.5 * v) / m);
        });
        ctx.fillStyle = `rgb(${px[0]},${px[1]},${px[2]})`;
        ctx.fillRect(ox + j * zoom, oy + i * zoom, zoom, zoom);
      }
    }
  }
}

/** Per-filter mean and std of the raw and the standardized stem filters (what WS changes). */
export function filterMoments(f: StemFilters): {
  raw: { mean: number; std: number }[];
  ws: { mean: number; std: number }[];
} {
  const per = f.shape.slice(1).reduce((a, b) => a * b, 1);
  const o = f.shape[0]!;
  const of = (w: Float32Array) => Array.from({ length: o }, (_, k) => moments(w.subarray(k * per, (k + 1) * per)));
  return { raw: of(f.raw), ws: of(f.ws) };
}

/** Fill the two canvases and the stats element. */
export function drawFilters(raw: HTMLCanvasElement, ws: HTMLCanvasElement, stats: HTMLElement, f: StemFilters) {
  panel(raw, f.raw, f.shape, 5);
  panel(ws, f.ws, f.shape, 5);
  const per = f.shape.slice(1).reduce((a, b) => a * b, 1);
  const o = f.shape[0]!;
  const rows: string[] = [];
  for (let k = 0; k < o; k++) {
    const a = moments(f.raw.subarray(k * per, (k + 1) * per));
    const b = moments(f.ws.subarray(k * per, (k + 1) * per));
    rows.push(
      `<tr><td>${k}</td><td>${a.mean.toExponential(1)}</td><td>${a.std.toExponential(2)}</td><td>${b.mean.toExponential(1)}</td><td>${b.std.toFixed(4)}</td></tr>`,
    );
  }
  stats.innerHTML = `<table class="small"><tr><th>filter</th><th>raw mean</th><th>raw std</th><th>WS mean</th><th>WS std</th></tr>${rows.join('')}</table>`;
}
