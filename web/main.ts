/**
 * The study page's UI (main thread only draws and forwards): picks a backend (the worker probes; the fastest
 * available is preselected; "Estimate" times one step per backend), starts/stops the study in the worker, and
 * draws each run's panels: loss curves per run on their own step axis (smoothed over the raw trace), held-out
 * accuracy with chance level and held-out size, the k-shot training images and a grid of held-out predictions,
 * the HyperRule's choices, per-filter statistics before/after WS and GroupNorm statistics; loads weights,
 * classifies a dropped image and downloads a checkpoint. A new run clears every panel and is labelled.
 * URL parameters: `backend=NAME`, `study=full|quick|tiny` (a preset, shown in the inputs), `autostart=1`,
 * `estimate=NAME,NAME` (time those backends after the probe). State for tests is mirrored on `window.__study`.
 */

import { drawFilters } from './filters.js';
import { FULL_STUDY, type RunName, STUDIES, STUDY_INPUTS, type StudyConfig } from './lib/config.js';
import { digitGrid, drawWsChart, gnTable } from './panels.js';
import { drawChart, type Series } from './plot.js';
import type { FromWorker, StudyState, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const COLORS: Record<RunName, string> = { upstream: '#555', transfer: '#d62728', scratch: '#1f77b4' };
const MARKERS: Record<RunName, Series['marker']> = { upstream: 'circle', transfer: 'diamond', scratch: 'square' };
const RUNS: RunName[] = ['upstream', 'transfer', 'scratch'];
const CHANCE = 20;

const perRun = <T>(f: () => T): Record<RunName, T> => ({ upstream: f(), transfer: f(), scratch: f() });
const S: StudyState = {
  state: 'probing',
  runId: 0,
  backend: '',
  backends: [],
  losses: perRun(() => []),
  ms: perRun(() => []),
  top1: perRun(() => []),
  totals: perRun(() => 0),
  heldOut: perRun(() => 0),
  kshot: 0,
  predictions: {},
  estimates: {},
  nan: '',
  error: '',
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  prediction: null,
  weights: [],
};
(window as unknown as { __study: StudyState }).__study = S;

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);
const svg = (id: string) => $(id) as unknown as SVGSVGElement;
const series = (runs: RunName[], pts: (r: RunName) => [number, number][]): Series[] =>
  runs.map((r) => ({ name: r, color: COLORS[r], marker: MARKERS[r], points: pts(r) }));
const lossPts = (r: RunName) => S.losses[r].map((v, i) => [i + 1, v] as [number, number]);

function redraw(): void {
  const chance = [{ y: CHANCE, label: `chance ${CHANCE}%` }];
  drawChart(svg('chart-up-loss'), series(['upstream'], lossPts), {
    title: 'upstream training loss (digits 0-4)',
    xMax: S.totals.upstream,
    smooth: 0.9,
    empty: 'starts with the upstream run',
  });
  drawChart(svg('chart-down-loss'), series(['transfer', 'scratch'], lossPts), {
    title: 'transfer vs scratch training loss (digits 5-9)',
    xMax: S.totals.transfer,
    smooth: 0.6,
    refs: S.losses.transfer.length ? [{ y: Math.log(5), label: 'ln 5' }] : [],
    empty: 'starts when the upstream run ends',
  });
  const held = (r: RunName) => (S.heldOut[r] ? ` on ${S.heldOut[r]} held-out images` : '');
  drawChart(
    svg('chart-up-acc'),
    series(['upstream'], (r) => S.top1[r]),
    {
      title: `upstream Top-1 (%)${held('upstream')}`,
      yMin: 0,
      yMax: 100,
      xMax: S.totals.upstream,
      dots: true,
      refs: chance,
      empty: 'evaluated during the upstream run',
    },
  );
  drawChart(
    svg('chart-down-acc'),
    series(['transfer', 'scratch'], (r) => S.top1[r]),
    {
      title: `transfer vs scratch Top-1 (%)${held('transfer')}`,
      yMin: 0,
      yMax: 100,
      xMax: S.totals.transfer,
      dots: true,
      refs: chance,
      empty: 'evaluated during the transfer and scratch runs',
    },
  );
  const done = RUNS.reduce((s, r) => s + S.losses[r].length, 0);
  const all = S.totals.upstream + 2 * S.totals.transfer;
  ($('progress') as HTMLProgressElement).value = all ? done / all : 0;
}

/** The config: the preset's hidden sizes with the inputs' values (a `?study=` preset filled the inputs at load). */
function config(): StudyConfig {
  const base = STUDIES[params.get('study') ?? ''] ?? FULL_STUDY;
  const cfg: StudyConfig = { ...base };
  for (const k of STUDY_INPUTS) {
    const v = Number(($(k) as HTMLInputElement).value);
    if (Number.isFinite(v) && (v > 0 || (k === 'mixup' && v === 0))) cfg[k] = v;
  }
  cfg.upstreamSteps = Math.round(cfg.upstreamSteps);
  cfg.shots = Math.round(cfg.shots);
  cfg.batch = Math.round(cfg.batch);
  cfg.accum = Math.max(1, Math.min(cfg.batch, Math.round(cfg.accum)));
  return cfg;
}

function clearPanels(): void {
  for (const r of RUNS) {
    S.losses[r] = [];
    S.ms[r] = [];
    S.top1[r] = [];
    S.totals[r] = 0;
    S.heldOut[r] = 0;
  }
  S.predictions = {};
  S.kshot = 0;
  S.nan = '';
  for (const id of [
    'summary',
    'gn',
    'stem-stats',
    'kshot-title',
    'pred-title',
    'stem-title',
    'gn-title',
    'error',
    'first-transfer-loss',
  ])
    $(id).textContent = '';
  $('hyperrule').textContent = 'chosen when the upstream run ends';
  for (const id of ['kshot', 'pred-transfer', 'pred-scratch', 'stem-raw', 'stem-ws']) {
    const c = $(id) as HTMLCanvasElement;
    c.width = 0;
    c.height = 0;
  }
  drawChart(svg('chart-ws'), [], { title: 'stem filters: per-filter mean and std', empty: 'after the upstream run' });
}

function startStudy(): void {
  const backend = ($('backend') as HTMLSelectElement).value;
  const cfg = config();
  S.backend = backend;
  S.state = 'running';
  S.runId++;
  clearPanels();
  S.totals.upstream = cfg.upstreamSteps;
  $('run-label').textContent =
    `Run ${S.runId} on ${backend}: upstream ${cfg.upstreamSteps} steps, k=${cfg.shots}, batch ${cfg.batch}` +
    `${cfg.accum > 1 ? ` (${cfg.accum} micro-batches)` : ''}, lr ${cfg.lr}, HyperRule x${cfg.scale}, MixUp ${cfg.mixup}`;
  ($('start') as HTMLButtonElement).disabled = true;
  ($('estimate') as HTMLButtonElement).disabled = true;
  ($('stop') as HTMLButtonElement).disabled = false;
  $('status').textContent = `starting on ${backend}...`;
  redraw();
  send({ type: 'start', backend, config: cfg });
}

function optionLabels(): void {
  for (const o of Array.from(($('backend') as HTMLSelectElement).options)) {
    const r = S.backends.find((b) => b.name === o.value);
    if (!r) continue;
    const e = S.estimates[r.name];
    const t = e ? ` (~${e.seconds < 90 ? `${e.seconds.toFixed(0)} s` : `${(e.seconds / 60).toFixed(1)} min`})` : '';
    o.textContent = r.available ? `${r.name}${t}` : `${r.name} (unavailable: ${r.reason})`;
  }
  const rows = Object.entries(S.estimates).map(
    ([b, e]) =>
      `${b}: ${e.stepMs.toFixed(0)} ms/step (first step ${e.firstMs.toFixed(0)} ms, compiling) -> about ` +
      `${e.seconds < 90 ? `${e.seconds.toFixed(0)} s` : `${(e.seconds / 60).toFixed(1)} min`} for this study`,
  );
  $('estimates').textContent = rows.length ? `Time estimate from a one-step probe: ${rows.join('; ')}` : '';
}

function estimate(names: string[]): void {
  ($('estimate') as HTMLButtonElement).disabled = true;
  $('status').textContent = `timing one step on ${names.join(', ')}...`;
  send({ type: 'estimate', backends: names, config: config() });
}

function onEvent(e: Extract<FromWorker, { type: 'event' }>['e']): void {
  if (e.kind === 'run') {
    S.totals[e.run] = e.total;
    S.heldOut[e.run] = e.heldOut;
  } else if (e.kind === 'step') {
    S.losses[e.run].push(e.loss);
    S.ms[e.run].push(e.ms);
    $('status').textContent =
      `${e.run}: step ${e.step}/${e.total}, loss ${e.loss.toFixed(4)}, lr ${e.lr.toPrecision(3)}, ${e.ms.toFixed(0)} ms/step`;
    if (e.run === 'transfer' && e.step === 1) {
      $('first-transfer-loss').textContent =
        ` This run's first transfer loss: ${e.loss.toFixed(4)} (ln 5 = ${Math.log(5).toFixed(4)}).`;
    }
  } else if (e.kind === 'eval') {
    S.top1[e.run].push([e.step, e.top1]);
  } else if (e.kind === 'nan') {
    S.nan = `${e.run}: non-finite loss at step ${e.step}; stopped before the update (lower the lr)`;
    $('error').textContent = S.nan;
  } else if (e.kind === 'hyperrule') {
    $('hyperrule').textContent = e.lines.join('\n');
  } else if (e.kind === 'kshot') {
    S.kshot = e.labels.length;
    $('kshot-title').textContent = `(${e.labels.length} images, run ${S.runId})`;
    digitGrid(
      $('kshot'),
      e.pixels,
      e.labels.map((l) => e.classes[l]!),
    );
  } else if (e.kind === 'predictions') {
    S.predictions[e.run] = { labels: e.labels, predicted: e.predicted, right: e.right };
    if (e.run !== 'upstream') {
      const right = e.right;
      // a tie for the top logit is not a hit (the Top-1 rule), so a "right" label can be marked wrong: say so
      const note = (i: number) => (e.predicted[i] === e.labels[i] ? ' tie' : ` (${e.classes[e.labels[i]!]})`);
      $('pred-title').textContent = `(run ${S.runId}, after the last step)`;
      digitGrid(
        $(`pred-${e.run}`),
        e.pixels,
        e.predicted.map((p, i) => `${e.classes[p]}${right[i] ? '' : note(i)}`),
        right,
      );
    }
  }
  redraw();
}

function onDone(m: Extract<FromWorker, { type: 'done' }>): void {
  S.state = S.nan ? 'error' : 'done';
  if (S.nan) S.error = S.nan;
  ($('start') as HTMLButtonElement).disabled = false;
  ($('estimate') as HTMLButtonElement).disabled = false;
  ($('stop') as HTMLButtonElement).disabled = true;
  ($('download') as HTMLButtonElement).disabled = false;
  const last = (r: RunName) => S.top1[r].at(-1)?.[1];
  const fmt = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)}%`);
  const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
  $('summary').innerHTML =
    `<b>Run ${S.runId} ${m.stopped ? 'stopped' : S.nan ? 'stopped (NaN)' : 'done'}</b> in ${m.seconds.toFixed(1)} s on ${S.backend}. ` +
    `Held-out Top-1 (${S.heldOut.transfer || S.heldOut.upstream} images, chance ${CHANCE}%): ` +
    `upstream (0-4) ${fmt(last('upstream'))}, BiT transfer (5-9) ${fmt(last('transfer'))}, from scratch ${fmt(last('scratch'))}. ` +
    `Mean step: ${RUNS.map((r) => `${r} ${mean(S.ms[r]).toFixed(0)} ms`).join(', ')}.`;
  $('status').textContent = 'done';
  ($('progress') as HTMLProgressElement).value = 1;
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
        o.disabled = !r.available;
        return o;
      }),
    );
    optionLabels();
    const want = params.get('backend');
    sel.value = want && m.rows.some((r) => r.name === want && r.available) ? want : m.preferred;
    sel.disabled = false;
    ($('start') as HTMLButtonElement).disabled = false;
    ($('estimate') as HTMLButtonElement).disabled = false;
    const iso = S.crossOriginIsolated ? '' : 'page not cross-origin isolated';
    $('backend-note').textContent = [m.note, m.threads, iso].filter(Boolean).join('; ');
    $('status').textContent = 'ready';
    S.state = 'ready';
    const est = params.get('estimate');
    if (est) estimate(est.split(',').filter((b) => m.rows.some((r) => r.name === b && r.available)));
    if (want && sel.value !== want) {
      S.state = 'error';
      S.error = `backend ${want} is not available here: ${m.rows.find((r) => r.name === want)?.reason ?? 'unknown'}`;
      $('error').textContent = S.error;
    } else if (params.get('autostart') === '1') startStudy();
  } else if (m.type === 'estimate') {
    S.estimates[m.backend] = { firstMs: m.firstMs, stepMs: m.stepMs, seconds: m.seconds };
    optionLabels();
    if (S.state !== 'running') {
      ($('estimate') as HTMLButtonElement).disabled = false;
      $('status').textContent = 'ready';
    }
  } else if (m.type === 'started') {
    $('status').textContent = `training on ${m.backend} ${m.info}`;
  } else if (m.type === 'event') {
    onEvent(m.e);
  } else if (m.type === 'stem') {
    $('stem-title').textContent = `(run ${S.runId}, ${m.title})`;
    drawFilters($('stem-raw'), $('stem-ws'), $('stem-stats'), m.filters);
    drawWsChart(svg('chart-ws'), m.filters);
  } else if (m.type === 'gn') {
    $('gn-title').textContent = `(run ${S.runId}, ${m.title})`;
    $('gn').innerHTML = gnTable(m.rows);
  } else if (m.type === 'done') {
    onDone(m);
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
    ($('estimate') as HTMLButtonElement).disabled = false;
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

// a `?study=` preset shows in the inputs (what you see is what runs)
const preset = STUDIES[params.get('study') ?? ''] ?? FULL_STUDY;
for (const k of STUDY_INPUTS) ($(k) as HTMLInputElement).value = String(preset[k]);

$('start').onclick = startStudy;
$('stop').onclick = () => send({ type: 'stop' });
$('estimate').onclick = () => estimate(S.backends.filter((b) => b.available).map((b) => b.name));
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
clearPanels();
redraw();
send({ type: 'probe' });
