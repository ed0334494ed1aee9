/**
 * Backend selection: names, creation, a probe that says what is available here and why not, and the choice
 * of a default. The process's one backend cache: one instance per name (and per wasm thread count) per process,
 * created on first use, disposed by `disposeBackends`.
 *
 * Names: 'reference' (plain TS oracle, float32+float64), 'wasm' (SIMD kernels, worker threads: the CPU fast
 * path), 'gpujs-webasm' / 'gpujs-cpu' / 'gpujs-webgpu' (gpu.js modes). `BIT_BACKEND` in the environment or
 * `--backend` on the CLI picks one; `defaultBackendName()` picks webgpu where an adapter exists, else wasm.
 * Runs in browsers too (no `process` needed; the gpujs import is a literal, so bundlers see it).
 */

import { envVar } from '../../env.js';
import { BackendError, ConfigError } from '../../errors.js';
import type { Backend } from '../backend.js';
import { clearDefaultBackend, setDefaultBackend } from '../engine.js';
import type { AdapterInfo } from './gpujs/adapter-info.js';
import { createReferenceBackend } from './reference/index.js';
import { createWasmBackend } from './wasm/index.js';

export const BACKEND_NAMES = ['reference', 'wasm', 'gpujs-webasm', 'gpujs-cpu', 'gpujs-webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Options of a backend instance; part of the cache key. */
export interface BackendOptions {
  /** wasm only: worker threads (0 or absent: the default, all cores). */
  readonly threads?: number;
}

/** Created backends, by name (and `wasm@<threads>` for a wasm backend with an explicit thread count). */
const instances = new Map<string, Backend>();

function cacheKey(name: BackendName, o: BackendOptions): string {
  return name === 'wasm' && (o.threads ?? 0) > 0 ? `wasm@${o.threads}` : name;
}

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

type GpujsModule = {
  createGpujsBackend(mode: 'webasm' | 'cpu' | 'webgpu'): Promise<Backend>;
  webgpuAdapterInfo(): Promise<AdapterInfo>;
};

async function loadGpujs(): Promise<GpujsModule> {
  // Loaded lazily: gpu.js is large and only needed when asked for. A literal specifier, so bundlers include it
  // (esbuild with splitting puts it in a chunk of its own).
  return (await import('./gpujs/index.js')) as GpujsModule;
}

/** The backend of that name and options (created once). Throws BackendError when it cannot run here. */
export async function getBackend(name: BackendName | string, opts: BackendOptions = {}): Promise<Backend> {
  if (!isBackendName(name)) {
    throw new ConfigError(`backend: unknown name '${name}'; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  const key = cacheKey(name, opts);
  const have = instances.get(key);
  if (have) return have;
  let b: Backend;
  switch (name) {
    case 'reference':
      b = createReferenceBackend();
      break;
    case 'wasm': {
      const w = createWasmBackend((opts.threads ?? 0) > 0 ? { threads: opts.threads } : {});
      await w.ready; // browsers: workers start only once this thread yields
      b = w;
      break;
    }
    case 'gpujs-webasm':
    case 'gpujs-cpu':
    case 'gpujs-webgpu':
      b = await (await loadGpujs()).createGpujsBackend(name.slice(6) as 'webasm' | 'cpu' | 'webgpu');
      break;
  }
  instances.set(key, b);
  return b;
}

export interface ProbeResult {
  name: BackendName;
  available: boolean;
  reason: string;
  /** gpujs-webgpu only: the adapter it runs on (vendor, architecture, device type, requested limits). */
  adapter?: AdapterInfo;
}

/** Try each backend with a tiny op; report what works here and why not. */
export async function probeBackends(names: readonly BackendName[] = BACKEND_NAMES): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  for (const name of names) {
    try {
      const b = await getBackend(name);
      const x = b.upload([1, 2, 3], 'float32');
      const y = b.binary(
        'add',
        { buf: x, shape: [3], strides: [1], offset: 0 },
        { buf: x, shape: [3], strides: [1], offset: 0 },
        [3],
      );
      const v = await b.read(y);
      b.free(x);
      b.free(y);
      if (v[2] !== 6) throw new BackendError(`${name}: probe computed ${v[2]} for 3+3`);
      if (name === 'gpujs-webgpu') {
        const g = await loadGpujs();
        const adapter = await g.webgpuAdapterInfo();
        out.push({
          name,
          available: true,
          reason: `ok (${adapter.vendor} ${adapter.architecture}, device type ${adapter.deviceType})`,
          adapter,
        });
        continue;
      }
      const extra =
        name === 'wasm' ? ` (relaxed SIMD ${(b as Backend & { relaxed?: boolean }).relaxed ? 'on' : 'off'})` : '';
      out.push({ name, available: true, reason: `ok${extra}` });
    } catch (e) {
      out.push({ name, available: false, reason: (e as Error).message.split('\n')[0] });
    }
  }
  return out;
}

/**
 * The default for this machine, measured rather than assumed: gpujs-webgpu only when its adapter is real
 * hardware (a software adapter such as SwiftShader or llvmpipe runs 30-50x slower than wasm here), else wasm (the
 * CPU fast path), else gpu.js's webasm mode, else the reference backend. `BIT_BACKEND` overrides.
 */
export async function defaultBackendName(): Promise<BackendName> {
  const env = envVar('BIT_BACKEND');
  if (env) {
    if (!isBackendName(env)) throw new ConfigError(`BIT_BACKEND='${env}' is not one of ${BACKEND_NAMES.join(', ')}`);
    return env;
  }
  return chooseDefault(await probeBackends(['gpujs-webgpu', 'wasm', 'gpujs-webasm']));
}

/** The default among probe results (see defaultBackendName): webgpu on hardware, else the first CPU one that runs. */
export function chooseDefault(probes: readonly ProbeResult[]): BackendName {
  const gpu = probes.find((p) => p.name === 'gpujs-webgpu');
  if (gpu?.available && gpu.adapter?.deviceType === 'gpu') return 'gpujs-webgpu';
  for (const name of ['wasm', 'gpujs-webasm'] as const) if (probes.find((p) => p.name === name)?.available) return name;
  return 'reference';
}

/** Create (or reuse) the named backend and make it the engine's default. */
export async function useBackend(name: BackendName | string, opts: BackendOptions = {}): Promise<Backend> {
  const b = await getBackend(name, opts);
  setDefaultBackend(b);
  return b;
}

/** Dispose every created backend (workers, devices) so the process can exit. */
export function disposeBackends(): void {
  for (const b of instances.values()) {
    b.dispose();
    clearDefaultBackend(b);
  }
  instances.clear();
}
