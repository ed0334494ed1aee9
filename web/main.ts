/**
 * The study page's UI (main thread only draws and forwards): picks a backend (the worker probes; the fastest
 * available is preselected), starts/stops the study in the worker, draws live loss and accuracy curves, the
 * HyperRule's choices, stem filters before/after WS, GroupNorm statistics, loads weights from a file input,
 * classifies a dropped image and downloads a checkpoint. URL parameters for automation: `backend=NAME`,
 * `study=quick|tiny` (a few steps of everything), `autostart=1`. State for tests is mirrored on `window.__study`.
 */

import { drawFilters } from './filters.js';
import { FULL_STUDY, type RunName, STUDIES, type StudyConfig } from './lib/config.js';
import type { GnRow } from './lib/insight.js';
import { drawChart, type Series } from './plot.js';
import type { FromWorker, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const COLORS: Record<RunName, string> = { upstream: '#888', transfer: '#d62728', scratch: '#1f77b4' };
const RUNS: RunName[] = ['upstream', 'transfer', 'scratch'];

interface StudyState {
  state: 'probing' | 'ready' | 'running' | 'done' | 'error';
  backend: string;
  backends: { name: string; available: boolean; reason: string }[];
  losses: Record<RunName, number[]>;
  ms: Record<RunName, number[]>;
  top1: Record<RunName, [number, number][]>;
  error: string;
  crossOriginIsolated: boolean;
  /** Last classification of an image and the last weights-file report. */
  prediction: { probs: number[]; classes: string[]; model: string } | null;
  weights: string[];
}
const S: StudyState = {
  state: 'probing',
  backend: '',
  backends: [],
  losses: { upstream: [], transfer: [], scratch: [] },
  ms: { upstream: [], transfer: [], scratch: [] },
  top1: { upstream: [], transfer: [], scratch: [] },
  error: '',
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  prediction: null,
  weights: [],
};
(window as unknown as { __study: StudyState }).__study = S;

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);
let totals: Record<RunName, number> = { upstream: 0, transfer: 0, scratch: 0 };

function redraw(): void {
  const loss: Series[] = RUNS.map((r) => ({
    name: r,
    color: COLORS[r],
    points: S.losses[r].map((v, i) => [i + 1, v] as [number, number]),
  }));
  drawChart($('chart-loss') as unknown as SVGSVGElement, loss, { title: 'training loss', yMin: 0 });
  const acc: Series[] = RUNS.map((r) => ({ name: r, color: COLORS[r], points: S.top1[r] }));
  drawChart($('chart-acc') as unknown as SVGSVGElement, acc, {
    title: 'held-out Top-1 (%)',
    yMin: 0,
    yMax: 100,
    dots: true,
  });
  const done = RUNS.reduce((s, r) => s + S.losses[r].length, 0);
  const all = RUNS.reduce((s, r) => s + totals[r], 0);
  ($('progress') as HTMLProgressElement).value = all ? done / all : 0;
}

function gnTable(rows: GnRow[]): string {
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

function config(): StudyConfig {
  const named = STUDIES[params.get('study') ?? ''];
  if (named) return named;
  const up = Number(($('up-steps') as HTMLInputElement).value);
  const k = Number(($('shots') as HTMLInputElement).value);
  return { ...FULL_STUDY, upstreamSteps: up > 0 ? up : FULL_STUDY.upstreamSteps, shots: k > 0 ? k : FULL_STUDY.shots };
}

function startStudy(): void {
  const backend = ($('backend') as HTMLSelectElement).value;
  const cfg = config();
  S.backend = backend;
  S.state = 'running';
  for (const r of RUNS) {
    S.losses[r] = [];
    S.ms[r] = [];
    S.top1[r] = [];
  }
  totals = { upstream: cfg.maxSteps || cfg.upstreamSteps, transfer: 0, scratch: 0 };
  $('error').textContent = '';
  ($('start') as HTMLButtonElement).disabled = true;
  ($('stop') as HTMLButtonElement).disabled = false;
  $('status').textContent = `starting on ${backend}...`;
  redraw();
  send({ type: 'start', backend, config: cfg });
}

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  if (m.type === 'backends') {
    S.backends = m.rows;
    const sel = $('backend') as HTMLSelectElement;
    sel.replaceChildren(
      ...m.rows.map((r) => {
        const o = document.createElement('option');
        o.value = r.name;
        o.textContent = r.available ? r.name : `${r.name} (unavailable: ${r.reason})`;
        o.disabled = !r.available;
        return o;
      }),
    );
    const want = params.get('backend');
    sel.value = want && m.rows.some((r) => r.name === want && r.available) ? want : m.preferred;
    sel.disabled = false;
    ($('start') as HTMLButtonElement).disabled = false;
    const iso = S.crossOriginIsolated ? '' : 'page not cross-origin isolated';
    $('backend-note').textContent = [m.note, m.threads, iso].filter(Boolean).join('; ');
    $('status').textContent = 'ready';
    S.state = 'ready';
    if (want && sel.value !== want) {
      S.state = 'error';
      S.error = `backend ${want} is not available here: ${m.rows.find((r) => r.name === want)?.reason ?? 'unknown'}`;
      $('error').textContent = S.error;
    } else if (params.get('autostart') === '1') startStudy();
  } else if (m.type === 'started') {
    $('status').textContent = `training on ${m.backend} ${m.info}`;
  } else if (m.type === 'event') {
    const e = m.e;
    if (e.kind === 'step') {
      S.losses[e.run].push(e.loss);
      S.ms[e.run].push(e.ms);
      totals[e.run] = e.total;
      if (e.run === 'transfer') totals.scratch = e.total;
      $('status').textContent =
        `${e.run}: step ${e.step}/${e.total}, loss ${e.loss.toFixed(4)}, lr ${e.lr.toPrecision(3)}, ${e.ms.toFixed(0)} ms/step`;
    } else if (e.kind === 'eval') {
      S.top1[e.run].push([e.step, e.top1]);
    } else if (e.kind === 'hyperrule') {
      $('hyperrule').textContent = e.lines.join('\n');
    }
    redraw();
  } else if (m.type === 'stem') {
    $('stem-title').textContent = `(${m.title})`;
    drawFilters($('stem-raw'), $('stem-ws'), $('stem-stats'), m.filters);
  } else if (m.type === 'gn') {
    $('gn-title').textContent = `(${m.title})`;
    $('gn').innerHTML = gnTable(m.rows);
  } else if (m.type === 'done') {
    S.state = 'done';
    ($('start') as HTMLButtonElement).disabled = false;
    ($('stop') as HTMLButtonElement).disabled = true;
    ($('download') as HTMLButtonElement).disabled = false;
    const last = (r: RunName) => S.top1[r].at(-1)?.[1];
    const fmt = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)}%`);
    const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
    $('summary').innerHTML =
      `<b>${m.stopped ? 'stopped' : 'done'}</b> in ${m.seconds.toFixed(1)} s on ${S.backend}. Held-out Top-1: ` +
      `upstream (0-4) ${fmt(last('upstream'))}, BiT transfer (5-9) ${fmt(last('transfer'))}, from scratch ${fmt(last('scratch'))}. ` +
      `Mean step: ${RUNS.map((r) => `${r} ${mean(S.ms[r]).toFixed(0)} ms`).join(', ')}.`;
    $('status').textContent = 'done';
    ($('progress') as HTMLProgressElement).value = 1;
  } else if (m.type === 'weights') {
    S.weights = m.lines;
    $('weights-info').textContent = m.lines.join('\n');
    ($('download') as HTMLButtonElement).disabled = false;
  } else if (m.type === 'prediction') {
    S.prediction = { probs: m.probs, classes: m.classes, model: m.model };
    const best = m.probs.indexOf(Math.max(...m.probs));
    $('prediction').innerHTML =
      `model: ${m.model}${m.inverted ? ' (image inverted: light background)' : ''}<br>` +
      m.probs
        .map(
          (p, i) =>
            `${i === best ? '<b>' : ''}${m.classes[i] ?? i}: ${(100 * p).toFixed(1)}%${i === best ? '</b>' : ''}`,
        )
        .join(' &nbsp; ');
  } else if (m.type === 'checkpoint') {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([m.bytes as BlobPart], { type: 'application/octet-stream' }));
    a.download = m.name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  } else if (m.type === 'error') {
    S.error = m.message;
    if (S.state === 'running' || S.state === 'probing') S.state = 'error';
    $('error').textContent = m.message;
    ($('start') as HTMLButtonElement).disabled = false;
    ($('stop') as HTMLButtonElement).disabled = true;
  }
};

async function imageToRgba(file: Blob): Promise<{ rgba: Uint8ClampedArray; width: number; height: number }> {
  const bmp = await createImageBitmap(file);
  const c = document.createElement('canvas');
  c.width = bmp.width;
  c.height = bmp.height;
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  return { rgba: ctx.getImageData(0, 0, c.width, c.height).data, width: c.width, height: c.height };
}

async function classify(file: Blob): Promise<void> {
  const img = await imageToRgba(file);
  send({ type: 'infer', ...img });
}

$('start').onclick = startStudy;
$('stop').onclick = () => send({ type: 'stop' });
$('download').onclick = () => send({ type: 'checkpoint' });
$('weights').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) send({ type: 'load-weights', name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) });
};
$('image').onchange = (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void classify(f);
};
const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void classify(f);
};
redraw();
send({ type: 'probe' });
