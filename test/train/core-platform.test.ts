/**
 * src/train/core is platform-free: no file in it imports a Node module (`node:*`, a bare Node builtin), a
 * Node-only package, a `*-node` platform file, or a Node-layer file of src/train (only type imports of
 * ../config.js are allowed, erased at build). The transitive check (bundling core for browsers) is in
 * test/web/browser-bundle.test.ts; this one names the offending file and line directly.
 */

import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = path.resolve(import.meta.dirname, '../../src/train/core');

/** Every `import ... from 'x'` / `export ... from 'x'` / `import('x')` of a source text, with its line. */
function importsOf(src: string): { spec: string; line: number; typeOnly: boolean }[] {
  const out: { spec: string; line: number; typeOnly: boolean }[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const spec = m[3] ?? m[4]!;
    const at = m.index + m[0].search(/import|export/);
    out.push({ spec, line: src.slice(0, at).split('\n').length, typeOnly: Boolean(m[2]) });
  }
  return out;
}

/** Why `spec` (imported by a core file) breaks platform freedom, or null. */
function offence(spec: string, typeOnly: boolean): string | null {
  const bare = spec.replace(/^node:/, '').split('/')[0]!;
  if (spec.startsWith('node:') || builtinModules.includes(bare)) return 'a Node builtin';
  if (/-node(\.js)?$/.test(spec)) return 'a Node platform file';
  if (!spec.startsWith('.')) return 'a package (core imports only the library itself)';
  const target = path.resolve(CORE, spec);
  const inTrain = target.startsWith(path.resolve(CORE, '..') + path.sep) && !target.startsWith(CORE + path.sep);
  if (inTrain && !(typeOnly && target.endsWith(`${path.sep}config.js`))) return 'the Node layer of src/train';
  if (/[\\/]data[\\/](index|loader|image-folder|tar|open|binary-datasets)\.js$/.test(target))
    return 'a Node-only data module';
  return null;
}

describe('src/train/core imports no Node', () => {
  it('the import scan catches what it must (so the real check cannot pass vacuously)', () => {
    expect(importsOf("import * as fs from 'node:fs';\nexport { a } from './x.js';")).toEqual([
      { spec: 'node:fs', line: 1, typeOnly: false },
      { spec: './x.js', line: 2, typeOnly: false },
    ]);
    expect(offence('node:fs', false)).toBe('a Node builtin');
    expect(offence('path', false)).toBe('a Node builtin');
    expect(offence('yaml', false)).toMatch(/package/);
    expect(offence('../trainer.js', false)).toBe('the Node layer of src/train');
    expect(offence('../config.js', true)).toBeNull();
    expect(offence('../config.js', false)).toBe('the Node layer of src/train');
    expect(offence('../../data/index.js', false)).toBe('a Node-only data module');
    expect(offence('../../tensor/backends/wasm/host-node.js', false)).toBe('a Node platform file');
    expect(offence('../../data/mixup.js', false)).toBeNull();
  });

  it('no file of src/train/core imports Node, a package or the Node layer', () => {
    const files = fs.readdirSync(CORE).filter((f) => f.endsWith('.ts'));
    expect(files).toContain('trainer.ts');
    const bad: string[] = [];
    for (const f of files) {
      for (const { spec, line, typeOnly } of importsOf(fs.readFileSync(path.join(CORE, f), 'utf8'))) {
        const why = offence(spec, typeOnly);
        if (why) bad.push(`src/train/core/${f}:${line} imports '${spec}' (${why})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
