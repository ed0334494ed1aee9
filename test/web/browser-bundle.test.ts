/**
 * The library bundles for browsers with no stubs: esbuild (platform browser, the way a user's bundler sees the
 * package) on each public entry's browser target must succeed with no `node:` module, no Node-only package
 * (pngjs, the native webgpu addon) and the browser platform files in place of the Node ones. Also checks that
 * package.json's `browser` export conditions and `browser` map name files that exist (as src/*.ts, built to
 * dist/src/*.js), and bundles src/train/core, the platform-free training core. Fast: no browser needed.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, Record<string, string>>;
  browser: Record<string, string>;
};

/** Bundle `entry` for browsers the way a user's bundler would; its input files and import paths. */
async function bundle(entry: string): Promise<{ inputs: string[]; imports: string[] }> {
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    splitting: true,
    write: false,
    outdir: path.join(ROOT, '.tmp-browser-bundle'),
    metafile: true,
    logLevel: 'silent',
  });
  return {
    inputs: Object.keys(r.metafile.inputs),
    imports: Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path)),
  };
}

/** dist/src/x.js -> src/x.ts (what the build compiles it from). */
const source = (p: string) => p.replace(/^\.\/(dist\/)?src\//, 'src/').replace(/\.js$/, '.ts');

describe('browser bundles of the public entries', () => {
  for (const [sub, cond] of Object.entries(pkg.exports)) {
    if (!cond.browser) continue;
    it(`bit-ts${sub === '.' ? '' : sub.slice(1)} (${cond.browser}) bundles without Node modules`, async () => {
      const entry = path.join(ROOT, source(cond.browser!));
      expect(fs.existsSync(entry), entry).toBe(true);
      const { inputs, imports } = await bundle(entry);
      expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
      expect(inputs.filter((p) => /node_modules\/(pngjs|webgpu)\//.test(p))).toEqual([]);
      expect(inputs.filter((p) => /-node\.ts$/.test(p))).toEqual([]);
      if (sub === '.') {
        expect(inputs).toContain('src/tensor/backends/wasm/host-browser.ts');
        expect(inputs).toContain('src/tensor/backends/gpujs/webgpu-browser.ts');
      }
      if (sub === './data') expect(inputs).toContain('src/data/png-browser.ts');
    });
  }

  it('src/train/core (the training core every front end runs) bundles without Node modules', async () => {
    const { inputs, imports } = await bundle(path.join(ROOT, 'src/train/core/index.ts'));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(inputs.filter((p) => /-node\.ts$|node_modules\/(pngjs|webgpu|yaml|cli-progress)\//.test(p))).toEqual([]);
    expect(inputs).toContain('src/train/core/trainer.ts');
  });

  it('every browser-map entry pairs existing Node and browser files', () => {
    for (const [from, to] of Object.entries(pkg.browser)) {
      expect(from.replace('-node.js', ''), from).toBe(to.replace('-browser.js', ''));
      for (const f of [from, to]) expect(fs.existsSync(path.join(ROOT, source(f))), f).toBe(true);
    }
  });
});
