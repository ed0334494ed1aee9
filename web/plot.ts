/**
 * A small SVG line chart for the study page (no chart library): linear axes, one <path> per series (plus dots on
 * request) with `data-series` and `data-points` attributes (the browser test reads them), a legend, and y ticks.
 * Redrawn from scratch on each update; cheap at the few hundred points a study produces.
 */

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

const NS = 'http://www.w3.org/2000/svg';

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draw `series` into `svg` (its viewBox is 400 x 220). */
export function drawChart(
  svg: SVGSVGElement,
  series: Series[],
  o: { title: string; yMin?: number; yMax?: number; dots?: boolean },
) {
  const W = 400;
  const H = 220;
  const L = 40;
  const R = 10;
  const T = 22;
  const B = 24;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const pts = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...pts.map((p) => p[0]));
  let yMin = o.yMin ?? Math.min(...pts.map((p) => p[1]), 0);
  let yMax = o.yMax ?? Math.max(...pts.map((p) => p[1]), 1e-6);
  if (!(yMax > yMin)) [yMin, yMax] = [0, 1];
  const x = (v: number) => L + ((W - L - R) * v) / xMax;
  const y = (v: number) => T + (H - T - B) * (1 - (v - yMin) / (yMax - yMin));
  svg.append(el('text', { x: L, y: 14, class: 'chart-title' }, o.title));
  svg.append(el('line', { x1: L, y1: y(yMin), x2: W - R, y2: y(yMin), class: 'axis' }));
  svg.append(el('line', { x1: L, y1: T, x2: L, y2: y(yMin), class: 'axis' }));
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    svg.append(el('text', { x: L - 4, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v.toFixed(v < 10 ? 2 : 0)));
  }
  svg.append(el('text', { x: W - R, y: H - 6, class: 'tick', 'text-anchor': 'end' }, `step ${xMax}`));
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
      svg.append(
        el('path', { d, stroke: s.color, 'data-series': s.name, 'data-points': s.points.length, class: 'line' }),
      );
      if (o.dots || s.points.length === 1)
        for (const p of s.points) svg.append(el('circle', { cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: s.color }));
    }
    const lx = L + 80 * i;
    svg.append(el('rect', { x: lx, y: H - 11, width: 10, height: 3, fill: s.color }));
    svg.append(el('text', { x: lx + 14, y: H - 6, class: 'tick' }, s.name));
  });
}
