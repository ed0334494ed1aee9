/**
 * Helpers of the study-page browser test (./study-page.test.ts): the page state it reads, the DOM probe, the same
 * study run in Node for comparison, and the Chromium launch with the flags the project uses (headless=new, no
 * sandbox, unsafe WebGPU, no background networking / component updates / sync / first-run, a fresh profile).
 */

import puppeteer, { type Browser } from 'puppeteer-core';
import { useBackend } from '../../src/tensor/backends/registry.js';
import { mnistSubset } from '../../web/build.js';
import type { RunName, StudyConfig } from '../../web/lib/config.js';
import { unpackMnist } from '../../web/lib/mnist-pack.js';
import { runStudy } from '../../web/lib/study.js';
import type { StudyState } from '../../web/protocol.js';

export const RUNS: RunName[] = ['upstream', 'transfer', 'scratch'];
export type Losses = Record<RunName, number[]>;
/** The page's state (`window.__study`). */
export type PageState = StudyState;

/** What the page shows, read in the page (a string: this project's TypeScript has no DOM types outside web/). */
export const DOM_PROBE = `(() => {
  const q = (sel) => document.querySelector(sel);
  const pts = (sel) => Number(q(sel)?.getAttribute('data-points') ?? -1);
  const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent);
  const runs = ['upstream', 'transfer', 'scratch'];
  const chart = (id) => ({
    xticks: texts('#' + id + ' .xtick').map(Number),
    yticks: texts('#' + id + ' .ytick'),
    refs: [...document.querySelectorAll('#' + id + ' [data-ref]')].map((e) => e.getAttribute('data-ref')),
    raw: [...document.querySelectorAll('#' + id + ' [data-raw]')].map((e) => e.getAttribute('data-raw')),
    empty: texts('#' + id + ' .empty'),
    title: q('#' + id + ' .chart-title')?.textContent ?? '',
    markers: { diamond: document.querySelectorAll('#' + id + ' path[fill]:not([data-series])').length,
      square: document.querySelectorAll('#' + id + ' rect[fill="none"]').length },
  });
  return {
    loss: [pts('#chart-up-loss path[data-series="upstream"]'), pts('#chart-down-loss path[data-series="transfer"]'),
      pts('#chart-down-loss path[data-series="scratch"]')],
    acc: [pts('#chart-up-acc path[data-series="upstream"]'), pts('#chart-down-acc path[data-series="transfer"]'),
      pts('#chart-down-acc path[data-series="scratch"]')],
    charts: Object.fromEntries(['chart-up-loss', 'chart-down-loss', 'chart-up-acc', 'chart-down-acc', 'chart-ws']
      .map((id) => [id, chart(id)])),
    wsPoints: ['raw std', 'WS std', 'raw mean', 'WS mean'].map((s) => pts('#chart-ws path[data-series="' + s + '"]')),
    looks: texts('.look'),
    firstTransferLoss: q('#first-transfer-loss').textContent,
    runLabel: q('#run-label').textContent,
    inputs: Object.fromEntries(['upstreamSteps', 'shots', 'batch', 'lr', 'scale', 'mixup', 'accum']
      .map((k) => [k, Number(q('#' + k).value)])),
    canvases: Object.fromEntries(['kshot', 'pred-transfer', 'pred-scratch', 'stem-raw', 'stem-ws']
      .map((k) => [k, q('#' + k).width])),
    titles: texts('#kshot-title, #pred-title, #stem-title, #gn-title'),
    options: [...q('#backend').options].map((o) => o.textContent),
    estimates: q('#estimates').textContent,
    progress: q('#progress').value,
    hyperrule: q('#hyperrule').textContent,
    gnRows: document.querySelectorAll('#gn tr').length,
    stem: [q('#stem-raw').width, q('#stem-ws').width],
    summary: q('#summary').textContent,
  };
})()`;

/** The DOM probe's result. */
export interface DomState {
  loss: number[];
  acc: number[];
  charts: Record<
    string,
    {
      xticks: number[];
      yticks: string[];
      refs: string[];
      raw: string[];
      empty: string[];
      title: string;
      markers: { diamond: number; square: number };
    }
  >;
  wsPoints: number[];
  looks: string[];
  firstTransferLoss: string;
  runLabel: string;
  inputs: Record<string, number>;
  canvases: Record<string, number>;
  titles: string[];
  options: string[];
  estimates: string;
  progress: number;
  hyperrule: string;
  gnRows: number;
  stem: number[];
  summary: string;
}

/** Median step time (ms) over every run's steps after the first (the first compiles kernels). */
export function medianMs(ms: Losses): number {
  const v = RUNS.flatMap((r) => ms[r].slice(1)).sort((a, b) => a - b);
  return v.length ? v[v.length >> 1]! : Number.NaN;
}

/** The same study in Node on `backend`: losses and step times. */
export async function nodeStudy(cfg: StudyConfig, backend: string): Promise<{ losses: Losses; ms: Losses }> {
  await useBackend(backend);
  const data = unpackMnist(mnistSubset());
  const losses: Losses = { upstream: [], transfer: [], scratch: [] };
  const ms: Losses = { upstream: [], transfer: [], scratch: [] };
  const models: { dispose(): void }[] = [];
  await runStudy(cfg, data, (e) => {
    if (e.kind === 'model') models.push(e.model);
    if (e.kind === 'step') {
      losses[e.run].push(e.loss);
      ms[e.run].push(e.ms);
    }
  });
  for (const m of models) m.dispose();
  return { losses, ms };
}

/** Debian's chromium at `executablePath` with a fresh profile directory. */
export function launchChromium(executablePath: string, profile: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-gpu-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
  });
}
