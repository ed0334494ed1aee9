/**
 * A small SVG line chart for the study page (no chart library): linear axes with "nice" ticks (1-2-5 steps) on
 * both axes, one <path> per series with `data-series` and `data-points` attributes (the browser test reads them),
 * optionally an exponential moving average drawn bold over the raw trace drawn faint, markers of a distinct shape
 * per series (so equal values never hide one), horizontal reference lines (chance level) and a legend. An empty
 * chart shows a note, not ticks. Redrawn from scratch on each update; cheap at the few hundred points a study makes.
 */

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Marker shape when dots are drawn. */
  marker?: 'circle' | 'square' | 'diamond';
}

export interface ChartOptions {
  title: string;
  yMin?: number;
  yMax?: number;
  /** The x axis ends here (a run's step count) even before the data gets there. */
  xMax?: number;
  xLabel?: string;
  /** Markers at every point. */
  dots?: boolean;
  /** EMA weight of the smoothed curve (0: no smoothing, raw only). */
  smooth?: number;
  /** Dashed horizontal lines, e.g. chance level. */
  refs?: { y: number; label: string }[];
  /** Text shown while no series has a point. */
  empty?: string;
}

const NS = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Ticks at a 1-2-5 step covering [lo, hi] with about `n` intervals. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** Exponential moving average with bias correction (TensorBoard's smoothing), same length as `v`. */
export function ema(v: readonly number[], w: number): number[] {
  let m = 0;
  return v.map((x, i) => {
    m = w * m + (1 - w) * x;
    return m / (1 - w ** (i + 1));
  });
}

const fmt = (v: number, step: number) =>
  step >= 1 ? v.toFixed(0) : v.toFixed(Math.min(4, -Math.floor(Math.log10(step))));

function marker(s: Series, cx: number, cy: number): SVGElement {
  const m = s.marker ?? 'circle';
  if (m === 'square') return el('rect', { x: cx - 3, y: cy - 3, width: 6, height: 6, fill: 'none', stroke: s.color });
  if (m === 'diamond')
    return el('path', { d: `M${cx},${cy - 4}L${cx + 4},${cy}L${cx},${cy + 4}L${cx - 4},${cy}Z`, fill: s.color });
  return el('circle', { cx, cy, r: 2.8, fill: s.color });
}

/** Draw `series` into `svg` (its viewBox is 400 x 230). */
export function drawChart(svg: SVGSVGElement, series: Series[], o: ChartOptions) {
  const W = 400;
  const H = 230;
  const L = 42;
  const R = 12;
  const T = 22;
  const B = 40;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  svg.append(el('text', { x: L, y: 14, class: 'chart-title' }, o.title));
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) {
    svg.append(
      el('text', { x: W / 2, y: H / 2, class: 'tick empty', 'text-anchor': 'middle' }, o.empty ?? 'no data yet'),
    );
    return;
  }
  const xMax = Math.max(o.xMax ?? 1, ...pts.map((p) => p[0]));
  let yMin = o.yMin ?? Math.min(...pts.map((p) => p[1]), ...(o.refs ?? []).map((r) => r.y));
  let yMax = o.yMax ?? Math.max(...pts.map((p) => p[1]), ...(o.refs ?? []).map((r) => r.y));
  if (!(yMax > yMin)) [yMin, yMax] = [yMin - 0.5, yMin + 0.5];
  const yt = niceTicks(yMin, yMax);
  if (o.yMin === undefined) yMin = Math.min(yMin, yt[0]!);
  const x = (v: number) => L + ((W - L - R) * v) / xMax;
  const y = (v: number) => T + (H - T - B) * (1 - (v - yMin) / (yMax - yMin));
  svg.append(el('line', { x1: L, y1: y(yMin), x2: W - R, y2: y(yMin), class: 'axis' }));
  svg.append(el('line', { x1: L, y1: T, x2: L, y2: y(yMin), class: 'axis' }));
  const yStep = yt.length > 1 ? yt[1]! - yt[0]! : 1;
  for (const v of yt.filter((t) => t >= yMin - 1e-9 && t <= yMax + 1e-9)) {
    svg.append(el('line', { x1: L - 3, y1: y(v), x2: W - R, y2: y(v), class: 'gridline' }));
    svg.append(el('text', { x: L - 5, y: y(v) + 3.5, class: 'tick ytick', 'text-anchor': 'end' }, fmt(v, yStep)));
  }
  for (const v of niceTicks(0, xMax, 6).filter((t) => Number.isInteger(t))) {
    svg.append(el('line', { x1: x(v), y1: y(yMin), x2: x(v), y2: y(yMin) + 3, class: 'axis' }));
    svg.append(el('text', { x: x(v), y: y(yMin) + 13, class: 'tick xtick', 'text-anchor': 'middle' }, String(v)));
  }
  svg.append(el('text', { x: W - R, y: y(yMin) + 25, class: 'tick', 'text-anchor': 'end' }, o.xLabel ?? 'step'));
  for (const r of o.refs ?? []) {
    svg.append(el('line', { x1: L, y1: y(r.y), x2: W - R, y2: y(r.y), class: 'ref', 'data-ref': r.label }));
    svg.append(el('text', { x: W - R - 2, y: y(r.y) - 3, class: 'tick', 'text-anchor': 'end' }, r.label));
  }
  const path = (p: [number, number][]) =>
    p.map((q, j) => `${j ? 'L' : 'M'}${x(q[0]).toFixed(1)},${y(q[1]).toFixed(1)}`).join('');
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const smooth = (o.smooth ?? 0) > 0 && s.points.length > 2;
      const attrs = { stroke: s.color, 'data-series': s.name, 'data-points': s.points.length };
      if (smooth) {
        svg.append(el('path', { d: path(s.points), stroke: s.color, class: 'line raw', 'data-raw': s.name }));
        const sm = ema(
          s.points.map((p) => p[1]),
          o.smooth!,
        );
        svg.append(el('path', { ...attrs, d: path(s.points.map((p, j) => [p[0], sm[j]!])), class: 'line' }));
      } else svg.append(el('path', { ...attrs, d: path(s.points), class: 'line' }));
      if (o.dots || s.points.length === 1) for (const p of s.points) svg.append(marker(s, x(p[0]), y(p[1])));
    }
    const lx = L + 95 * i;
    svg.append(el('rect', { x: lx, y: H - 9, width: 10, height: 3, fill: s.color }));
    svg.append(el('text', { x: lx + 14, y: H - 4, class: 'tick' }, s.name));
  });
}
