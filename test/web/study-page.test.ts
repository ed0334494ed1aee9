/**
 * The study page in a real browser: builds it (web/build.ts) into test-output/web/dist, serves it on 127.0.0.1
 * with COOP/COEP (web/serve.ts), drives Debian's Chromium headless through puppeteer-core (no browser download)
 * and, per backend, runs a few training steps of every run (upstream, transfer, scratch). Asserts: the losses
 * equal those of the same seed and config in Node (web/lib/study.ts on the wasm backend) within the
 * training tolerance; the page drew one curve point per step and the HyperRule / WS / GroupNorm panels; the
 * wasm backend ran its thread pool (the page is cross-origin isolated). Saves screenshots and step times
 * (browser next to Node) under test-output/web/.
 *
 * Skipped, with the reason logged, where /usr/bin/chromium is missing, unless CI=true or BIT_REQUIRE_WEBGPU=1
 * (then it fails). The same two variables make a missing WebGPU adapter in Chromium fail instead of skipping
 * the webgpu case.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collateBatch } from '../../src/data/collate.js';
import { createModel, decodeWeights, encodeCkpt, encodeNpz, toBitNpz, toMindCV } from '../../src/models/index.js';
import { disposeBackends, useBackend } from '../../src/tensor/backends/registry.js';
import { fromTyped, noGrad, softmax, tidy } from '../../src/tensor/index.js';
import { browserMapPlugin } from '../../web/browser-map-plugin.js';
import { buildWeb, mnistSubset, type WebBuild } from '../../web/build.js';
import { DOWN_CLASSES, QUICK_STUDY, type StudyConfig, TINY_STUDY } from '../../web/lib/config.js';
import { splitDataset, unpackMnist } from '../../web/lib/mnist-pack.js';
import { evaluate } from '../../web/lib/study.js';
import { serveStatic } from '../../web/serve.js';
import { closeness, TOL } from '../tolerances.js';
import {
  DOM_PROBE,
  type DomState,
  type Losses,
  launchChromium,
  medianMs,
  nodeStudy,
  type PageState,
  RUNS,
} from './page-harness.js';

/** Debian's chromium; BIT_CHROMIUM overrides the path (e.g. to check the skip). */
const CHROMIUM = process.env.BIT_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.resolve('test-output/web');
const MUST = process.env.CI === 'true' || process.env.BIT_REQUIRE_WEBGPU === '1';
const missing = fs.existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (CI installs Debian's chromium)`;
if (missing && !MUST)
  console.warn(`[web] skipping the browser test: ${missing} (CI=true or BIT_REQUIRE_WEBGPU=1 fail)`);

describe.skipIf(missing !== null && !MUST)('the study page in headless Chromium', () => {
  let build: WebBuild;
  let server: { url: string; close: () => Promise<void> } | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let profile = '';
  const node: Record<string, { losses: Losses; ms: Losses }> = {};
  const timings: Record<string, { browserMs: number; nodeMs: number; node: string; study: string }> = {};
  const logs: string[] = [];
  /** Every URL the page requested (the gpu.js chunk must be fetched only when gpujs-webgpu is chosen). */
  const requests: string[] = [];

  beforeAll(async () => {
    if (missing) return; // each test fails with the reason (CI=true or BIT_REQUIRE_WEBGPU=1)
    fs.mkdirSync(OUT, { recursive: true });
    build = await buildWeb(path.join(OUT, 'dist'));
    server = await serveStatic(build.outDir, 0);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-chromium-'));
    browser = await launchChromium(CHROMIUM, profile);
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
    page.on('request', (r) => requests.push(r.url()));
    // Node's wasm backend is the comparison (it matches the reference backend within the training tolerance,
    // test/train; here it keeps the test short)
    node.wasm = await nodeStudy(QUICK_STUDY, 'wasm');
    node.tiny = await nodeStudy(TINY_STUDY, 'wasm');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    disposeBackends();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    if (build && Object.keys(timings).length) {
      fs.writeFileSync(path.join(OUT, 'timings.json'), `${JSON.stringify({ build: build.files, timings }, null, 2)}\n`);
      console.log(
        `[web] JavaScript ${(build.jsBytes / 1024).toFixed(0)} KiB; median step ms, browser vs Node: ` +
          Object.entries(timings)
            .map(([b, t]) => `${b} ${t.browserMs.toFixed(0)} vs Node ${t.node} ${t.nodeMs.toFixed(0)} (${t.study})`)
            .join(', '),
      );
    }
  });

  /** Load the page, run `study` on `backend`, wait for the end; returns the page state. */
  async function runInPage(
    backend: string,
    study: 'quick' | 'tiny',
    url = server?.url,
    whileRunning?: () => Promise<void>,
    extra = '',
  ): Promise<PageState> {
    if (missing) throw new Error(`CI=true or BIT_REQUIRE_WEBGPU=1, but ${missing}`);
    await page.goto(`${url}?backend=${backend}&study=${study}&autostart=1${extra}`);
    if (whileRunning) {
      await page.waitForFunction(`window.__study.state === 'running'`, { timeout: 60_000 });
      await whileRunning();
    }
    await page.waitForFunction(`['done', 'error'].includes(window.__study?.state)`, { timeout: 100_000, polling: 200 });
    return (await page.evaluate('window.__study')) as PageState;
  }

  async function checkPage(s: PageState, study: StudyConfig, ref: Losses, backend: string, runId = 1) {
    expect(s.error, logs.join('\n')).toBe('');
    expect(s.state).toBe('done');
    expect(s.runId).toBe(runId);
    expect(s.losses.upstream).toHaveLength(study.upstreamSteps);
    expect(s.losses.transfer).toHaveLength(study.maxSteps);
    expect(s.losses.scratch).toHaveLength(study.maxSteps);
    const got = RUNS.flatMap((r) => s.losses[r]);
    const want = RUNS.flatMap((r) => ref[r]);
    expect(closeness(got, want, TOL.training), `${backend}: browser ${got} vs Node ${want}`).toBeLessThanOrEqual(0);
    // the zero head of the transfer run starts at exactly ln(5) on every backend
    expect(s.losses.transfer[0]).toBeCloseTo(Math.log(5), 5);
    const dom = (await page.evaluate(DOM_PROBE)) as DomState;
    // this run's curves only (a previous run's panels were cleared), each run on its own step axis
    expect(dom.loss).toEqual([study.upstreamSteps, study.maxSteps, study.maxSteps]);
    expect(dom.acc).toEqual([1, 1, 1]);
    expect(s.totals).toEqual({ upstream: study.upstreamSteps, transfer: study.maxSteps, scratch: study.maxSteps });
    expect(Math.max(...dom.charts['chart-up-loss']!.xticks)).toBeLessThanOrEqual(study.upstreamSteps);
    expect(Math.max(...dom.charts['chart-down-loss']!.xticks)).toBe(study.maxSteps);
    // readable ticks: round values on a 1-2-5 grid, no empty-chart note once there is data
    for (const id of ['chart-up-loss', 'chart-down-loss', 'chart-up-acc', 'chart-down-acc']) {
      const c = dom.charts[id]!;
      expect(c.empty, id).toEqual([]);
      expect(c.yticks.length, id).toBeGreaterThanOrEqual(2);
      const steps = c.yticks
        .map(Number)
        .map((v, i, a) => (i ? v - a[i - 1]! : 0))
        .slice(1);
      for (const d of steps)
        expect(Number((d / 10 ** Math.floor(Math.log10(d) + 1e-9)).toFixed(6)), id).toBeOneOf([1, 2, 5]);
    }
    expect(dom.charts['chart-up-acc']!.yticks).toEqual(['0', '20', '40', '60', '80', '100']);
    // smoothed over the faint raw trace where there are enough points; chance level and held-out size
    if (study.upstreamSteps > 2) expect(dom.charts['chart-up-loss']!.raw).toEqual(['upstream']);
    expect(dom.charts['chart-down-acc']!.refs).toEqual(['chance 20%']);
    expect(dom.charts['chart-down-acc']!.title).toContain(`${Math.min(study.evalImages, 500)} held-out images`);
    expect(s.heldOut).toEqual({ upstream: study.evalImages, transfer: study.evalImages, scratch: study.evalImages });
    // equal accuracies cannot hide a run: transfer and scratch have different marker shapes
    expect(dom.charts['chart-down-acc']!.markers.diamond).toBe(1);
    expect(dom.charts['chart-down-acc']!.markers.square).toBe(1);
    // one sentence per panel on what to look for, the measured ln 5 start
    expect(dom.looks.length).toBeGreaterThanOrEqual(9);
    expect(dom.looks.join(' ')).toContain('zeroes the new head');
    expect(dom.firstTransferLoss).toContain(`first transfer loss: ${Math.log(5).toFixed(4)}`);
    // the k-shot training images and the held-out prediction grids, labelled with the run
    expect(s.kshot).toBe(5 * study.shots);
    expect(dom.canvases.kshot).toBeGreaterThan(0);
    const grid = Math.min(20, study.evalImages);
    for (const r of ['transfer', 'scratch'] as const) {
      expect(s.predictions[r]?.predicted, r).toHaveLength(grid);
      expect(dom.canvases[`pred-${r}`], r).toBeGreaterThan(0);
    }
    // the page's own accuracy agrees with its prediction grid where the grid covers the whole held-out set
    if (study.evalImages <= 20) {
      const p = s.predictions.transfer!;
      const right = p.right.filter(Boolean).length;
      // "right" is exactly the Top-1 rule: rank 0, so a tied prediction is not a hit
      p.right.forEach((r, i) => {
        if (r) expect(p.predicted[i]).toBe(p.labels[i]);
      });
      expect(s.top1.transfer.at(-1)![1]).toBeCloseTo((100 * right) / grid, 6);
    }
    for (const t of dom.titles) expect(t).toContain(`run ${runId}`);
    expect(dom.runLabel).toMatch(
      new RegExp(
        `^Run ${runId} on ${backend}: upstream ${study.upstreamSteps} steps, k=${study.shots}, batch ${study.batch}`,
      ),
    );
    expect(dom.progress).toBe(1);
    expect(dom.hyperrule).toContain(`BiT-HyperRule for N=${5 * study.shots} training images`);
    expect(dom.gnRows).toBe(14); // header + 13 GroupNorms of bit-tiny
    expect(dom.stem[0]).toBeGreaterThan(0);
    expect(dom.stem[1]).toBe(dom.stem[0]);
    // WS as numbers: one point per stem filter for raw and standardized mean and std
    const filters = dom.wsPoints[0]!;
    expect(filters).toBeGreaterThan(0);
    expect(dom.wsPoints).toEqual([filters, filters, filters, filters]);
    expect(dom.summary).toContain(`Run ${runId} done`);
    await page.screenshot({ path: path.join(OUT, `study-${backend}.png`), fullPage: true });
    return dom;
  }

  it('wasm: thread pool in a cross-origin-isolated page, losses equal Node; time estimates; no gpu.js fetched', async () => {
    requests.length = 0;
    const s = await runInPage('wasm', 'quick', server?.url, undefined, '&estimate=wasm,reference');
    expect(s.crossOriginIsolated).toBe(true);
    // the probe classified WebGPU without loading gpu.js: its chunk is fetched only when gpujs-webgpu is chosen
    expect(requests.filter((u) => /\/gpujs-[^/]*\.js$/.test(u))).toEqual([]);
    expect(requests.some((u) => u.endsWith('/worker.js'))).toBe(true);
    // one-step probes timed both CPU backends; the menu shows the estimate
    for (const b of ['wasm', 'reference']) {
      expect(s.estimates[b]?.stepMs, b).toBeGreaterThan(0);
      expect(s.estimates[b]!.seconds, b).toBeGreaterThan(0);
    }
    const note = (await page.evaluate(`document.getElementById('backend-note').textContent`)) as string;
    expect(note).toMatch(/wasm threads: [2-9]|wasm threads: 1\d/);
    const dom = await checkPage(s, QUICK_STUDY, node.wasm!.losses, 'wasm');
    expect(dom.options.find((o) => o.startsWith('wasm'))).toMatch(/^wasm \(~\d+ s\)$/);
    expect(dom.estimates).toMatch(/wasm: \d+ ms\/step .*reference: \d+ ms\/step/);
    // the preset shows in the inputs
    expect(dom.inputs).toMatchObject({ upstreamSteps: 3, shots: 2, batch: 8, accum: 1 });
    // same kernels and thread-count-invariant results as in Node
    const got = RUNS.flatMap((r) => s.losses[r]);
    expect(
      closeness(
        got,
        RUNS.flatMap((r) => node.wasm!.losses[r]),
        TOL.elementwise,
      ),
    ).toBeLessThanOrEqual(0);
    timings.wasm = { browserMs: medianMs(s.ms), nodeMs: medianMs(node.wasm!.ms), node: 'wasm', study: 'quick' };
  });

  it('wasm without cross-origin isolation: one thread on an unshared memory, same losses', async () => {
    const plain = await serveStatic(build.outDir, 0, { isolate: false });
    try {
      const s = await runInPage('wasm', 'quick', plain.url);
      expect(s.crossOriginIsolated).toBe(false);
      const note = (await page.evaluate(`document.getElementById('backend-note').textContent`)) as string;
      expect(note).toContain('wasm threads: 1');
      expect(s.error, logs.join('\n')).toBe('');
      const got = RUNS.flatMap((r) => s.losses[r]);
      expect(
        closeness(
          got,
          RUNS.flatMap((r) => node.wasm!.losses[r]),
          TOL.elementwise,
        ),
      ).toBeLessThanOrEqual(0);
    } finally {
      await plain.close();
    }
  });

  it("wasm on a page's main thread: one thread (no Atomics.wait there), explicit threads refused", async () => {
    if (missing) throw new Error(`CI=true or BIT_REQUIRE_WEBGPU=1, but ${missing}`);
    // a probe bundled from the library's source the way a user's bundler would, loaded on the main thread
    await esbuild.build({
      stdin: {
        contents: `
          import { createWasmBackend } from './src/tensor/backends/wasm/index.js';
          import { getBackend } from './src/tensor/backends/registry.js';
          window.__mainThread = async () => {
            const b = await getBackend('wasm');
            const x = b.upload(Float32Array.from({ length: 300000 }, (_, i) => i % 5), 'float32');
            const v = { buf: x, shape: [300000], strides: [1], offset: 0 };
            const y = await b.read(b.binary('mul', v, v, [300000]));
            let refused = '';
            try { createWasmBackend({ threads: 2 }); } catch (e) { refused = e.name + ': ' + e.message; }
            return { threads: b.threads, y: [y[3], y[4], y[299999]], refused, isolated: crossOriginIsolated };
          };`,
        resolveDir: path.resolve('.'),
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      plugins: [browserMapPlugin()],
      format: 'esm',
      outfile: path.join(build.outDir, 'main-thread-probe.js'),
      logLevel: 'silent',
    });
    await page.goto(server!.url);
    await page.addScriptTag({ url: '/main-thread-probe.js', type: 'module' });
    await page.waitForFunction('typeof window.__mainThread === "function"', { timeout: 30_000 });
    const r = (await page.evaluate('window.__mainThread()')) as {
      threads: number;
      y: number[];
      refused: string;
      isolated: boolean;
    };
    expect(r.isolated).toBe(true);
    expect(r.threads).toBe(1);
    expect(r.y).toEqual([9, 16, 16]);
    expect(r.refused).toMatch(/^BackendError: wasm backend: threads: 2 asked, but at most 1 here: .*main thread/);
  });

  it('downloads a checkpoint; loads it (safetensors, npz, ckpt) through the file input; classifies an image as Node does', async () => {
    const s = await runInPage('wasm', 'quick');
    expect(s.error, logs.join('\n')).toBe('');
    const dl = path.join(OUT, 'downloads');
    fs.rmSync(dl, { recursive: true, force: true });
    fs.mkdirSync(dl, { recursive: true });
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dl });
    await page.click('#download');
    const file = path.join(dl, 'bit-tiny-transfer.safetensors');
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    const bytes = new Uint8Array(fs.readFileSync(file));
    const w = decodeWeights(bytes, file);
    expect(w.format).toBe('safetensors');
    expect(w.weights.get('head.fc.weight')?.shape).toEqual([5, 512, 1, 1]);
    expect(w.metadata.classes).toBe(DOWN_CLASSES.join(','));

    // the same file in Node: held-out accuracy and the class probabilities of one test digit
    await useBackend('reference');
    const m = createModel('bit-tiny', { numClasses: 5, seed: 0 });
    m.loadStateDict(
      new Map(
        [...w.weights].map(([k, a]) => [k, { shape: a.shape, data: Float32Array.from(a.data as ArrayLike<number>) }]),
      ),
    );
    const data = unpackMnist(mnistSubset());
    const test = splitDataset(data, 'downTest', DOWN_CLASSES);
    const top1 = await evaluate(m, test, 200, 32);
    const b = collateBatch(test, { kind: 'bit-eval', crop: 32 }, [0], 0, 0, 0);
    m.eval();
    const p = noGrad(() => tidy(() => softmax(m.forward(fromTyped(b.images, b.shape)), -1)));
    const want = Array.from(await p.data());
    p.dispose();
    m.dispose();

    const input = await page.$('#weights');
    await input!.uploadFile(file);
    await page.waitForFunction('window.__study.weights.length > 1', { timeout: 30_000 });
    const info = (await page.evaluate('window.__study.weights')) as string[];
    expect(info[0]).toContain('safetensors');
    expect(info[1]).toContain(`held-out Top-1 on 200 MNIST 5-9 images: ${top1.toFixed(1)}%`);

    const png = new PNG({ width: 28, height: 28 });
    const px = data.downTest.pixels.subarray(0, 28 * 28);
    for (let i = 0; i < 28 * 28; i++) png.data.set([px[i]!, px[i]!, px[i]!, 255], i * 4);
    const digit = path.join(OUT, 'digit.png');
    fs.writeFileSync(digit, PNG.sync.write(png));
    const image = await page.$('#image');
    await image!.uploadFile(digit);
    await page.waitForFunction('window.__study.prediction !== null', { timeout: 30_000 });
    const pred = (await page.evaluate('window.__study.prediction')) as NonNullable<PageState['prediction']>;
    expect(pred.model).toBe('loaded');
    expect(pred.classes).toEqual(DOWN_CLASSES);
    expect(closeness(pred.probs, want, TOL.training)).toBeLessThanOrEqual(0);
    // the same weights as an official-BiT-named .npz and a MindSpore .ckpt: the same accuracy
    for (const [ext, bytes] of [
      ['npz', encodeNpz(toBitNpz(w.weights).weights)],
      ['ckpt', encodeCkpt(toMindCV(w.weights).weights)],
    ] as const) {
      const f = path.join(dl, `bit-tiny-transfer.${ext}`);
      fs.writeFileSync(f, bytes);
      await input!.uploadFile(f);
      await page.waitForFunction(`window.__study.weights[0]?.startsWith('bit-tiny-transfer.${ext}')`, {
        timeout: 30_000,
      });
      const lines = (await page.evaluate('window.__study.weights')) as string[];
      expect(lines[1], lines.join('\n')).toContain(`: ${top1.toFixed(1)}%`);
    }

    await page.screenshot({ path: path.join(OUT, 'study-weights-inference.png'), fullPage: true });
  });

  it("reference, as a second run in the same page: the first run's panels are cleared, losses equal Node", async () => {
    if (missing) throw new Error(`CI=true or BIT_REQUIRE_WEBGPU=1, but ${missing}`);
    const first = await runInPage('wasm', 'quick');
    expect(first.runId).toBe(1);
    await page.select('#backend', 'reference');
    await page.click('#start');
    await page.waitForFunction(`window.__study.runId === 2 && ['done', 'error'].includes(window.__study.state)`, {
      timeout: 100_000,
      polling: 200,
    });
    const s = (await page.evaluate('window.__study')) as PageState;
    await checkPage(s, QUICK_STUDY, node.wasm!.losses, 'reference', 2);
    timings.reference = {
      browserMs: medianMs(s.ms),
      nodeMs: medianMs(node.wasm!.ms),
      node: 'wasm',
      study: 'quick',
    };
  });

  it('gpujs-webgpu (navigator.gpu): losses equal Node', async (ctx) => {
    if (missing) throw new Error(`CI=true or BIT_REQUIRE_WEBGPU=1, but ${missing}`);
    await page.goto(`${server!.url}?study=tiny`);
    await page.waitForFunction(`window.__study?.state !== 'probing'`, { timeout: 60_000 });
    const idle = (await page.evaluate(DOM_PROBE)) as DomState;
    // the tiny preset shows in the inputs; empty charts say so instead of drawing "0.00" ticks
    expect(idle.inputs).toMatchObject({ upstreamSteps: 2, shots: 2, batch: 4, lr: 0.01, scale: 0.1 });
    expect(idle.charts['chart-down-loss']!.empty).toEqual(['starts when the upstream run ends']);
    expect(idle.charts['chart-down-loss']!.yticks).toEqual([]);
    const probe = (await page.evaluate('window.__study.backends')) as PageState['backends'];
    const wg = probe.find((b) => b.name === 'gpujs-webgpu');
    if (!wg?.available) {
      const why = `gpujs-webgpu unavailable in Chromium: ${wg?.reason ?? 'not probed'}`;
      if (MUST) throw new Error(`CI=true or BIT_REQUIRE_WEBGPU=1, but ${why}`);
      console.warn(`[web] skipping the webgpu case: ${why}`);
      ctx.skip();
    }
    // the fastest backend is preselected: webgpu on a hardware adapter, wasm over a software one (SwiftShader)
    const selected = (await page.evaluate(`document.getElementById('backend').value`)) as string;
    expect(selected).toBe(wg!.adapter?.deviceType === 'gpu' ? 'gpujs-webgpu' : 'wasm');
    // the tab stays responsive while a (slow, software) WebGPU step runs: the engine is in a Worker
    const s = await runInPage('gpujs-webgpu', 'tiny', server!.url, async () => {
      const lags = (await page.evaluate(`(async () => {
        const lags = [];
        for (let i = 0; i < 10; i++) {
          const t = performance.now();
          await new Promise((r) => setTimeout(r, 0));
          lags.push(performance.now() - t);
          await new Promise((r) => setTimeout(r, 100));
        }
        return { lags, state: window.__study.state };
      })()`)) as { lags: number[]; state: string };
      expect(lags.state).toBe('running');
      expect(Math.max(...lags.lags)).toBeLessThan(250);
    });
    await checkPage(s, TINY_STUDY, node.tiny!.losses, 'gpujs-webgpu');
    expect(requests.some((u) => /\/gpujs-[^/]*\.js$/.test(u))).toBe(true); // loaded once chosen
    timings['gpujs-webgpu'] = {
      browserMs: medianMs(s.ms),
      nodeMs: medianMs(node.tiny!.ms),
      node: 'wasm',
      study: 'tiny',
    };
  });
});
