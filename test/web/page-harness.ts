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

export const RUNS: RunName[] = ['upstream', 'transfer', 'scratch'];
export type Losses = Record<RunName, number[]>;
export interface PageState {
  state: string;
  backend: string;
  backends: { name: string; available: boolean; reason: string; adapter?: { deviceType: string } }[];
  losses: Losses;
  ms: Losses;
  top1: Record<RunName, [number, number][]>;
  error: string;
  crossOriginIsolated: boolean;
  prediction: { probs: number[]; classes: string[]; model: string } | null;
  weights: string[];
}

/** What the page shows, read in the page (a string: this project's TypeScript has no DOM types outside web/). */
export const DOM_PROBE = `(() => {
  const pts = (sel) => Number(document.querySelector(sel)?.getAttribute('data-points') ?? -1);
  const runs = ['upstream', 'transfer', 'scratch'];
  return {
    loss: runs.map((r) => pts('#chart-loss path[data-series="' + r + '"]')),
    acc: runs.map((r) => pts('#chart-acc path[data-series="' + r + '"]')),
    progress: document.getElementById('progress').value,
    hyperrule: document.getElementById('hyperrule').textContent,
    gnRows: document.querySelectorAll('#gn tr').length,
    stem: [document.getElementById('stem-raw').width, document.getElementById('stem-ws').width],
    summary: document.getElementById('summary').textContent,
  };
})()`;

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
