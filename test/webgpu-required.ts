/**
 * Require-or-skip for WebGPU tests, in one place (the gpujs unit tests and the conformance suite use it).
 *
 * A WebGPU adapter is probed once per test process (creating gpujs-webgpu, which runs a self-check kernel).
 * Without one, webgpu tests are SKIPPED and the probe's reason is logged once, unless the environment sets
 * BIT_REQUIRE_WEBGPU=1 (CI, where a software adapter is installed): then they must FAIL, never skip. Backends
 * whose name does not contain 'webgpu' are always run; this module does not decide about them.
 *
 * Use: `const under = await backendsUnderTest(['webasm', 'cpu', 'webgpu'])`, then per entry
 * `describe.skipIf(u.skip !== null)(...)`, and `assertRunnable(u)` where the tests get the backend (it throws
 * the `fail` reason, so every test of a required-but-missing webgpu backend fails with it).
 */

import { createGpujsBackend } from '../src/tensor/backends/gpujs/index.js';
import { teardownWebgpu } from '../src/tensor/backends/gpujs/webgpu-setup.js';

/** The flag under which a missing WebGPU adapter fails the webgpu tests instead of skipping them. */
export const REQUIRE_WEBGPU_ENV = 'BIT_REQUIRE_WEBGPU';

/** Whether BIT_REQUIRE_WEBGPU=1 is set in this process. */
export function webgpuRequired(): boolean {
  return process.env[REQUIRE_WEBGPU_ENV] === '1';
}

let probed: Promise<string | null> | null = null;

/** Why gpujs-webgpu cannot run here, or null when it can (probed once per process; leaves nothing running). */
export function webgpuUnavailableReason(): Promise<string | null> {
  probed ??= createGpujsBackend('webgpu').then(
    async (b) => {
      b.dispose();
      // dispose() starts the WebGPU teardown without waiting; finish it before a test installs WebGPU again.
      await teardownWebgpu();
      return null;
    },
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
  return probed;
}

/** One backend under test and what its tests must do here. */
export interface UnderTest<T extends string> {
  readonly name: T;
  /** Non-null: skip this backend's tests (no adapter, not required); the probe's reason. */
  readonly skip: string | null;
  /** Non-null: run this backend's tests and make them FAIL with this message (required webgpu missing). */
  readonly fail: string | null;
}

let logged = false;

/**
 * The run / skip / fail decision for WebGPU, probed once: `run` when an adapter answered; `skip` (reason logged
 * once) when none did; `fail` when none did and BIT_REQUIRE_WEBGPU=1.
 */
export async function webgpuOrSkip(): Promise<{
  readonly decision: 'run' | 'skip' | 'fail';
  readonly reason: string | null;
}> {
  const reason = await webgpuUnavailableReason();
  if (reason === null) return { decision: 'run', reason: null };
  if (webgpuRequired()) {
    return { decision: 'fail', reason: `${REQUIRE_WEBGPU_ENV}=1 but WebGPU is not available: ${reason}` };
  }
  if (!logged) {
    logged = true;
    console.warn(`[webgpu] skipping WebGPU tests: ${reason} (set ${REQUIRE_WEBGPU_ENV}=1 to fail instead)`);
  }
  return { decision: 'skip', reason };
}

/**
 * Decide, for each backend name, whether its tests run, skip or must fail. Names containing 'webgpu' follow
 * `webgpuOrSkip()`; every other name always runs (skip and fail null). Order and names are kept.
 */
export async function backendsUnderTest<T extends string>(names: readonly T[]): Promise<UnderTest<T>[]> {
  const needsProbe = names.some((n) => n.includes('webgpu'));
  const wg = needsProbe ? await webgpuOrSkip() : null;
  return names.map((name) => {
    if (!name.includes('webgpu') || !wg || wg.decision === 'run') return { name, skip: null, fail: null };
    return wg.decision === 'skip' ? { name, skip: wg.reason, fail: null } : { name, skip: null, fail: wg.reason };
  });
}

/** Throws an Error with `u.fail` when set: call where a test obtains the backend, so its tests fail. */
export function assertRunnable(u: UnderTest<string>): void {
  if (u.fail !== null) throw new Error(`${u.name}: ${u.fail}`);
}
