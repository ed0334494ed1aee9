/**
 * The study page's screenshots in docs/img/ (README and docs): builds the page, serves it with COOP/COEP, runs the
 * FULL study on wasm in Debian's headless Chromium (with the one-step time estimates of wasm and reference), saves
 * docs/img/web-study.png, then starts a second run in the same tab (k = 10, 60 upstream steps) and saves
 * docs/img/web-study-second-run.png: every panel then belongs to run 2. Minutes on 2 cores; not part of CI.
 * Usage: npx tsx scripts/web-screenshots.ts [OUT_DIR]   (BIT_CHROMIUM overrides /usr/bin/chromium)
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { launchChromium } from '../test/web/page-harness.js';
import { buildWeb } from '../web/build.js';
import { serveStatic } from '../web/serve.js';

const out = path.resolve(process.argv[2] ?? 'docs/img');
const chromium = process.env.BIT_CHROMIUM ?? '/usr/bin/chromium';
const build = await buildWeb(path.resolve('test-output/web-screenshots/dist'));
const server = await serveStatic(build.outDir, 0);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-shots-'));
const browser = await launchChromium(chromium, profile);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (e) => console.error(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  const done = async (run: number) => {
    await page.waitForFunction(`window.__study.runId === ${run} && ['done', 'error'].includes(window.__study.state)`, {
      timeout: 3_600_000,
      polling: 1000,
    });
    const s = (await page.evaluate('window.__study')) as { error: string; top1: Record<string, [number, number][]> };
    if (s.error) throw new Error(`run ${run}: ${s.error}`);
    console.log(`run ${run}: transfer ${s.top1.transfer?.at(-1)?.[1]}%, scratch ${s.top1.scratch?.at(-1)?.[1]}%`);
  };
  const t0 = Date.now();
  await page.goto(`${server.url}?backend=wasm&study=full&autostart=1&estimate=wasm,reference`);
  await done(1);
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, 'web-study.png'), fullPage: true });
  console.log(`full study on wasm: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await page.evaluate(`(() => {
    document.getElementById('shots').value = '10';
    document.getElementById('upstreamSteps').value = '60';
    document.getElementById('start').click();
  })()`);
  await done(2);
  await page.screenshot({ path: path.join(out, 'web-study-second-run.png'), fullPage: true });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
