/**
 * A lockfile for an empty consumer project that installs the packed bit-ts tarball, derived from the repository's
 * package-lock.json: bit-ts (resolved to the tarball) plus the closure of its declared `dependencies` and of the
 * consumer's own tools, at the versions CI tested. With it `npm ci --offline` installs from the npm cache that the
 * repository's own `npm ci` filled, with no registry metadata. Only bit-ts's declared dependencies are reachable,
 * so a runtime import of a devDependency fails the consumer's run instead of passing by accident.
 */

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

export interface Lockfile {
  name: string;
  lockfileVersion: number;
  requires: boolean;
  packages: Record<string, LockEntry>;
}

/** Where Node would find `dep` required from the package installed at `from` ('' is the project root). */
function locate(packages: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  let dir = from;
  for (;;) {
    const at = `${dir ? `${dir}/` : ''}node_modules/${dep}`;
    if (packages[at]) return at;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

/**
 * The consumer's lockfile: `tarball` (a file name next to the consumer's package.json) as the dependency bit-ts,
 * `devTools` (names locked in the repository, e.g. typescript, esbuild) as devDependencies at their locked versions.
 */
export function consumerLock(repoLockFile: string, tarballPath: string, tarball: string, devTools: string[]) {
  const repo = JSON.parse(fs.readFileSync(repoLockFile, 'utf8')) as Lockfile;
  const root = repo.packages[''] as LockEntry;
  const packages: Record<string, LockEntry> = {};
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (at: string) => {
    if (seen.has(at)) return;
    seen.add(at);
    const e = repo.packages[at] as LockEntry;
    const { dev: _d, devOptional: _o, peer: _p, ...kept } = e;
    packages[at] = kept;
    const optionalPeers = new Set(
      Object.entries(e.peerDependenciesMeta ?? {})
        .filter(([, m]) => m.optional)
        .map(([n]) => n),
    );
    const deps = [
      ...Object.keys(e.dependencies ?? {}),
      ...Object.keys(e.optionalDependencies ?? {}),
      ...Object.keys(e.peerDependencies ?? {}).filter((n) => !optionalPeers.has(n)),
    ];
    for (const d of deps) {
      const found = locate(repo.packages, at, d);
      if (found) visit(found);
      else if (!(e.optionalDependencies && d in e.optionalDependencies)) missing.push(`${at} -> ${d}`);
    }
  };
  const runtime = Object.keys(root.dependencies ?? {});
  for (const d of [...runtime, ...devTools]) {
    const at = `node_modules/${d}`;
    if (!repo.packages[at]) throw new Error(`${d} is not in ${repoLockFile}`);
    visit(at);
  }
  if (missing.length) throw new Error(`unresolved in ${repoLockFile}: ${missing.join(', ')}`);
  const devDependencies = Object.fromEntries(devTools.map((d) => [d, repo.packages[`node_modules/${d}`]?.version]));
  const integrity = `sha512-${createHash('sha512').update(fs.readFileSync(tarballPath)).digest('base64')}`;
  packages['node_modules/bit-ts'] = {
    version: String((root as { version?: string }).version),
    resolved: `file:${tarball}`,
    integrity,
    license: root.license,
    dependencies: root.dependencies,
    bin: root.bin,
    engines: root.engines,
  };
  const manifest = {
    name: 'bit-ts-consumer',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: { 'bit-ts': `file:${tarball}` },
    devDependencies,
    // as in the repository: gpu.js asks for webgpu 0.2.9 (not loadable on current Debian, and not in the cache);
    // bit-ts itself depends on 0.6.2, which this makes the only copy
    overrides: { webgpu: repo.packages['node_modules/webgpu']?.version },
  };
  packages[''] = {
    name: manifest.name,
    version: manifest.version,
    dependencies: manifest.dependencies,
    devDependencies,
  };
  const lock: Lockfile = { name: manifest.name, lockfileVersion: 3, requires: true, packages };
  return { manifest, lock };
}
