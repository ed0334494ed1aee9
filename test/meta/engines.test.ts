// Issue 15 case 9 (EBADENGINE): every package the lockfile installs supports the oldest Node the package
// declares (package.json engines), so `npm ci` on that Node prints no EBADENGINE warning.
import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean; os?: string[] }>;
};

describe('engines', () => {
  it('the oldest Node the package declares satisfies every installed package', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    expect(semver.major(oldest)).toBe(20);
    const bad: string[] = [];
    for (const [where, p] of Object.entries(lock.packages)) {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (!where || !range) continue;
      if (!semver.satisfies(oldest, range)) bad.push(`${where.replace(/^.*node_modules\//, '')} wants node ${range}`);
    }
    expect(bad).toEqual([]);
  });

  it('vega-lite is a version that supports Node 20 (6.5.0 requires >= 22)', () => {
    const v = lock.packages['node_modules/vega-lite']!;
    expect(semver.satisfies('20.19.0', (v.engines as { node: string }).node)).toBe(true);
  });
});
