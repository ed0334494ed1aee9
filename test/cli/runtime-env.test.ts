// Issue 15 case 9 (`bit-ts backends` noise): a missing or invalid XDG_RUNTIME_DIR is replaced by a private
// temp directory before native backends load, so Vulkan/Wayland code no longer prints
// "XDG_RUNTIME_DIR is invalid or not set"; a valid one is kept.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureRuntimeDir, validRuntimeDir } from '../../src/cli/runtime-env.js';

const ROOT = path.join(import.meta.dirname, '../..');

describe('XDG_RUNTIME_DIR', () => {
  it('missing, world-readable or absent dirs are replaced by a private one; a valid one is kept', () => {
    const open = fs.mkdtempSync(path.join(os.tmpdir(), 'xdg-open-'));
    fs.chmodSync(open, 0o755);
    for (const bad of [undefined, '/nonexistent/xdg', open]) {
      const env: NodeJS.ProcessEnv = { XDG_RUNTIME_DIR: bad };
      const got = ensureRuntimeDir(env);
      expect(got).not.toBe(bad);
      expect(validRuntimeDir(got)).toBe(true);
      expect(env.XDG_RUNTIME_DIR).toBe(got);
    }
    const good = fs.mkdtempSync(path.join(os.tmpdir(), 'xdg-good-'));
    fs.chmodSync(good, 0o700);
    expect(ensureRuntimeDir({ XDG_RUNTIME_DIR: good })).toBe(good);
  });

  it('`bit-ts backends` without XDG_RUNTIME_DIR prints no XDG error', () => {
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/bit-ts.js'), 'backends'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('default:');
    expect(r.stderr).not.toContain('XDG_RUNTIME_DIR');
  });
});
