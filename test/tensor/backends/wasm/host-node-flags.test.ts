/**
 * The Node wasm host's V8 flags: `compileEagerly` restores the two flags it flips to the values the process had
 * before (its command line / NODE_OPTIONS), not to assumed defaults. V8 has no flag getter, so the defaults
 * table is checked against `node --v8-options` of the running node, and the restore is observed through a
 * child process started with the flags turned off.
 */

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startupFlag, V8_FLAG_DEFAULTS } from '../../../../src/tensor/backends/wasm/host-node.js';

describe('wasm host (Node): V8 flags', () => {
  it("the defaults table matches this node's `--v8-options`", () => {
    const text = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    for (const [name, on] of Object.entries(V8_FLAG_DEFAULTS)) {
      const m = new RegExp(`^\\s+--${name} \\(.*\\n\\s+type: bool\\s+default: --(no-)?${name}\\b`, 'm').exec(text);
      expect(m, name).not.toBeNull();
      expect(m![1] === undefined, name).toBe(on);
    }
  });

  it('reads the startup value from NODE_OPTIONS and the command line (the command line wins)', () => {
    expect(startupFlag('liftoff', [], '')).toBe(true);
    expect(startupFlag('liftoff', ['--no-liftoff'], '')).toBe(false);
    expect(startupFlag('liftoff', [], '--max-old-space-size=100 --no_liftoff')).toBe(false);
    expect(startupFlag('liftoff', ['--liftoff'], '--no-liftoff')).toBe(true);
    expect(startupFlag('wasm-lazy-compilation', ['--no-wasm-lazy-compilation'], '')).toBe(false);
    expect(startupFlag('wasm-lazy-compilation', ['--wasm_lazy_compilation=false'], '')).toBe(false);
  });

  it("restores a process's own values after an eager compile (a child started with both flags off)", () => {
    // in the child, turning liftoff back ON after the compile would let a later module tier up from Liftoff:
    // observable only through V8 internals, so the child reports the host's recorded state instead, which is what
    // it passes to v8.setFlagsFromString
    const script = `
      const { host } = await import(${JSON.stringify(new URL('../../../../src/tensor/backends/wasm/host-node.ts', import.meta.url).href)});
      const v8 = await import('node:v8');
      const seen = [];
      const orig = v8.default.setFlagsFromString;
      v8.default.setFlagsFromString = (f) => { seen.push(f); orig(f); };
      host.compileEagerly(() => 0);
      console.log(JSON.stringify(seen));`;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--no-liftoff', '--no-wasm-lazy-compilation', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const seen = JSON.parse(out.trim().split('\n').at(-1)!) as string[];
    expect(seen).toEqual([
      '--no-wasm-lazy-compilation',
      '--no-liftoff',
      // restored: the process started with both off, so they stay off
      '--no-wasm-lazy-compilation',
      '--no-liftoff',
    ]);
  });
});
