/**
 * The library bundles for browsers with no stubs: esbuild (platform browser, the way a user's bundler sees the
 * package) on each public entry's browser target (its `browser` condition, else its default) must succeed with no
 * `node:` module, no Node-only package (pngjs, the native webgpu addon) and the browser platform files in place of
 * the Node ones (package.json's `browser` map, applied to the sources by web/browser-map-plugin.ts). Also checks
 * that the export targets and the `browser` map name files that exist (as src/*.ts, built to dist/src/*.js). Fast:
 * no browser needed. bit-ts/models/node (file paths) is Node-only and has no browser target. Also bundles
 * src/train/core, the platform-free training core every front end runs.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { browserMapPlugin } from '../../web/browser-map-plugin.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** A conditional export target: a path, or conditions (nested) leading to one. */
type Target = string | { [condition: string]: Target };
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, Target>;
  browser: Record<string, string>;
};

/** Bundle `entry` for browsers the way a user's bundler would; its input files and import paths. */
async function bundle(entry: string): Promise<{ inputs: string[]; imports: string[] }> {
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    plugins: [browserMapPlugin()],
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

/** The JavaScript file a bundler targeting browsers picks for an export (conditions browser, then default). */
function browserTarget(t: Target): string | undefined {
  if (typeof t === 'string') return t.endsWith('.js') ? t : undefined;
  const next = t.browser ?? t.default;
  return next === undefined ? undefined : browserTarget(next);
}

/** dist/src/x.js -> src/x.ts (what the build compiles it from). */
const source = (p: string) => p.replace(/^\.\/(dist\/)?src\//, 'src/').replace(/\.js$/, '.ts');

describe('browser bundles of the public entries', () => {
  const entries = Object.entries(pkg.exports).filter(([sub]) => sub !== './models/node');
  it('every library entry has a browser target', () => {
    expect(entries.map(([sub, t]) => [sub, browserTarget(t) !== undefined])).toEqual([
      ['.', true],
      ['./nn', true],
      ['./models', true],
      ['./data', true],
      ['./package.json', false],
    ]);
  });
  for (const [sub, t] of entries) {
    const target = browserTarget(t);
    if (target === undefined) continue;
    it(`bit-ts${sub === '.' ? '' : sub.slice(1)} (${target}) bundles without Node modules`, async () => {
      const entry = path.join(ROOT, source(target));
      expect(fs.existsSync(entry), entry).toBe(true);
      const { inputs, imports } = await bundle(entry);
      expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
      expect(inputs.filter((p) => /node_modules\/(pngjs|webgpu)\//.test(p))).toEqual([]);
      expect(inputs.filter((p) => /-node\.ts$/.test(p))).toEqual([]);
      if (sub === '.') {
        expect(inputs).toContain('src/tensor/backends/wasm/host-browser.ts');
        expect(inputs).toContain('src/tensor/backends/gpujs/webgpu-browser.ts');
      }
      if (sub === './data') {
        expect(target).toBe('./dist/src/data/browser.js');
        expect(inputs).toContain('src/data/png-browser.ts');
      }
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
