/**
 * esbuild plugin for bundling bit-ts from its TypeScript sources for browsers (the study page, the browser tests).
 * package.json's `browser` map names the compiled platform files (dist/src/X-node.js -> dist/src/X-browser.js),
 * which a user's bundler applies to the installed package; this plugin applies the same pairs to the sources
 * (src/X-node.ts -> src/X-browser.ts). The pairs are written once, and the published map names only files that the
 * package ships.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** package.json's browser map as source pairs: absolute src/X-node.ts -> absolute src/X-browser.ts. */
export function sourceBrowserMap(root = ROOT): Map<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    browser?: Record<string, string>;
  };
  const toSource = (p: string) => path.join(root, p.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
  return new Map(Object.entries(pkg.browser ?? {}).map(([from, to]) => [toSource(from), toSource(to)]));
}

/** Resolves a relative import of a mapped Node platform file (`./host-node.js`) to its browser source. */
export function browserMapPlugin(root = ROOT): Plugin {
  const map = sourceBrowserMap(root);
  return {
    name: 'bit-ts-browser-map',
    setup(build) {
      build.onResolve({ filter: /-node\.js$/ }, (args) => {
        if (!args.path.startsWith('.')) return undefined;
        const target = map.get(path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts'));
        return target ? { path: target } : undefined;
      });
    },
  };
}
