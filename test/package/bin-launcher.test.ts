/**
 * bin/bit-ts.js picks what to run: the compiled dist/src/cli/main.js when it exists and no TypeScript source is
 * newer than its compiled .js (always so in the installed package, which has no sources), else src/cli/main.ts
 * through tsx; BIT_TS_RUN=dist|source forces one. Checked on a miniature package in a temp folder (the real
 * launcher, a two-file dist and source tree whose main() prints which one ran, the repository's node_modules for
 * tsx), with explicit file times instead of waiting.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let pkg = '';

/** Writes `text` to `rel` under the miniature package with modification time `t` (seconds since the epoch). */
function put(rel: string, text: string, t: number): void {
  const file = path.join(pkg, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  fs.utimesSync(file, t, t);
}

/** Runs the launcher with `bit-ts hello` and returns what main() printed and its exit code. */
function launch(env: Record<string, string> = {}): { out: string; code: number | null } {
  const childEnv = { ...process.env, ...env };
  if (!('BIT_TS_RUN' in env)) delete childEnv.BIT_TS_RUN;
  const r = spawnSync(process.execPath, [path.join(pkg, 'bin', 'bit-ts.js'), 'hello'], {
    env: childEnv,
    encoding: 'utf8',
  });
  return { out: `${r.stdout.trim()}${r.stderr.trim() ? ` | ${r.stderr.trim()}` : ''}`, code: r.status };
}

const T0 = 1_700_000_000;
const main = (who: string, ts: boolean) =>
  `import { who } from './who.js';\nexport async function main(argv${ts ? ': readonly string[]' : ''}) {\n` +
  `  console.log(who + ':' + '${who}:' + argv.join(' '));\n  return 3;\n}\n`;

beforeAll(() => {
  pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-bin-'));
  fs.mkdirSync(path.join(pkg, 'bin'));
  fs.copyFileSync(path.join(ROOT, 'bin', 'bit-ts.js'), path.join(pkg, 'bin', 'bit-ts.js'));
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'mini', type: 'module' }));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  put('dist/src/cli/main.js', main('dist', false), T0 + 100);
  put('dist/src/cli/who.js', "export const who = 'js';\n", T0 + 100);
  put('src/cli/main.ts', main('source', true), T0);
  put('src/cli/who.ts', "export const who: string = 'ts';\n", T0);
});

afterAll(() => {
  if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
});

describe('bin/bit-ts.js', () => {
  it('runs dist when every compiled .js is newer than its source, with the exit code of main()', () => {
    expect(launch()).toEqual({ out: 'js:dist:hello', code: 3 });
  });

  it('runs the sources through tsx when one source is newer than its .js', () => {
    fs.utimesSync(path.join(pkg, 'src/cli/who.ts'), T0 + 200, T0 + 200);
    expect(launch()).toEqual({ out: 'ts:source:hello', code: 3 });
    expect(launch({ BIT_TS_RUN: 'dist' })).toEqual({ out: 'js:dist:hello', code: 3 });
    fs.utimesSync(path.join(pkg, 'src/cli/who.ts'), T0, T0);
    expect(launch({ BIT_TS_RUN: 'source' })).toEqual({ out: 'ts:source:hello', code: 3 });
  });

  it('runs the sources when dist is missing, and dist when there are no sources (the installed package)', () => {
    fs.renameSync(path.join(pkg, 'dist'), path.join(pkg, 'dist-away'));
    expect(launch()).toEqual({ out: 'ts:source:hello', code: 3 });
    fs.renameSync(path.join(pkg, 'dist-away'), path.join(pkg, 'dist'));
    fs.renameSync(path.join(pkg, 'src'), path.join(pkg, 'src-away'));
    expect(launch()).toEqual({ out: 'js:dist:hello', code: 3 });
    fs.renameSync(path.join(pkg, 'src-away'), path.join(pkg, 'src'));
  });

  it('says what to do when dist is stale and tsx is not installed', () => {
    fs.unlinkSync(path.join(pkg, 'node_modules'));
    fs.utimesSync(path.join(pkg, 'src/cli/who.ts'), T0 + 200, T0 + 200);
    try {
      const r = launch();
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/older than its sources, and tsx .* is not installed.*npm run build/);
    } finally {
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
      fs.utimesSync(path.join(pkg, 'src/cli/who.ts'), T0, T0);
    }
  });
});
