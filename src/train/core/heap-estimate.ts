/**
 * How many bytes a training step will allocate, estimated from the model's plan before the first step runs, so
 * the trainer can ask the backend to map that much heap ahead (WasmBackend.prefault): a first step otherwise pays
 * a page fault per fresh 4 KiB page of its activations, gradients and weight-standardized copies (~1.3 us each on
 * the bench machine: ~0.2 s of R50x1's first step at 8 x 128 px).
 *
 * The estimate is a fit of the wasm allocator's measured high-water mark after the first step on the bench rows
 * (bit-tiny, bit-small and R50x1; 32 px at batch 8/32/128, 128 px at batch 8): ~5.3 bytes per normalized
 * activation element x 4 (the step keeps norm inputs, norm outputs, conv outputs and their gradients, Winograd
 * tiles), ~1.85x the parameter bytes (standardized weights and gradients; momentum buffers come after the first
 * step), plus 4.5 MiB (packing panels, scratch), scaled by SAFETY < 1: an under-estimate leaves a few faults, an
 * over-estimate would map memory the step never uses (resident memory beyond what training needs). One thread grows
 * ~2 MiB less (per-thread panels); the fit stays under that too.
 *
 * Invariants: `estimateStepBytes` is pure (no allocation, no backend) and 0 for a model without a ResNetV2 plan
 * (no hint is better than a wrong one); `prepareHeap` only asks a backend that has `prefault` (the wasm backend),
 * and its failure resolves to 0 (a hint changes speed, never results).
 */

import { envOn } from '../../env.js';
import type { ResNetV2Config } from '../../models/resnet-v2-plan.js';
import { resnetV2MacsBreakdown, resnetV2NumParameters } from '../../models/resnet-v2-plan.js';
import type { Module } from '../../nn/index.js';

/** Bytes per normalized float of a micro-batch, parameter-byte multiple and fixed bytes of the fit above. */
const PER_NORM_BYTE = 5.3;
const PER_PARAM_BYTE = 1.85;
const FIXED = 4.5 * 2 ** 20;
/**
 * Fraction of the fit asked for: with it the estimate is 78-93% of the measured growth on the bench rows (2-thread
 * pool, 2026-12-07: bit-tiny b8/b32/b128, bit-small b32/b128, R50x1 32 px b32 and 128 px b8). The previous
 * constants (4.8, 2, 4 MiB) fell to 72-89% after the Winograd and fused-op changes: bit-tiny b128 faulted ~15 MiB.
 */
export const SAFETY = 0.9;

/**
 * Estimated bytes one training step allocates for a ResNetV2 of config `cfg` with `paramCount` parameters, on
 * micro-batches of `inputShape` ([N, C, H, W]).
 */
export function estimateConfigStepBytes(
  cfg: ResNetV2Config,
  paramCount: number,
  inputShape: readonly number[],
): number {
  if (inputShape.length !== 4) return 0;
  const [n, , h, w] = inputShape as [number, number, number, number];
  const res = Math.round(Math.sqrt(h * w));
  const normPerSample = resnetV2MacsBreakdown(cfg, res).norm / 5;
  return Math.floor(SAFETY * (PER_NORM_BYTE * 4 * n * normPerSample + PER_PARAM_BYTE * 4 * paramCount + FIXED));
}

/**
 * Estimated bytes one training step allocates for `model` on micro-batches of `inputShape` ([N, C, H, W]; N is
 * the micro-batch: the batch divided by the accumulation count), or 0 when the model has no ResNetV2 plan.
 */
export function estimateStepBytes(model: Module, inputShape: readonly number[]): number {
  const cfg = (model as { config?: Partial<ResNetV2Config> }).config;
  if (!cfg || !Array.isArray(cfg.blockUnits) || typeof cfg.widthFactor !== 'number') return 0;
  const params = model.parameters().reduce((s, p) => s + p.size, 0);
  return estimateConfigStepBytes(cfg as ResNetV2Config, params, inputShape);
}

/** BIT_TRAIN_PREFAULT=0 turns the hint off. */
function prefaultOff(): boolean {
  return !envOn('BIT_TRAIN_PREFAULT');
}

/** The micro-batch shape of a batch shape split into `accum` parts. */
function microShape(inputShape: readonly number[], accum: number): number[] {
  return [Math.ceil(inputShape[0]! / Math.max(1, accum)), ...inputShape.slice(1)];
}

/** Ask `backend` to map `bytes` if it can (a failure to map changes speed only, never the run). */
function ask(backend: unknown, bytes: number): Promise<number> {
  const b = backend as Partial<Prefaulting> | null;
  if (bytes <= 0 || !b || typeof b.prefault !== 'function') return Promise.resolve(0);
  return b.prefault(bytes).catch(() => 0);
}

/**
 * Before the model exists (a front end that knows its config and batch, e.g. the CLI): map the weights about to
 * be created plus a step's estimate on `backend`, so the pages are touched while the model initializes and the
 * data loader starts. Resolves to the bytes mapped.
 */
export function prepareHeapForConfig(
  backend: unknown,
  cfg: ResNetV2Config,
  inputShape: readonly number[],
  accum: number,
): Promise<number> {
  if (prefaultOff()) return Promise.resolve(0);
  const params = resnetV2NumParameters(cfg);
  return ask(backend, 4 * params + estimateConfigStepBytes(cfg, params, microShape(inputShape, accum)));
}

/** A backend that can map heap ahead of use (the wasm backend's `prefault`). */
interface Prefaulting {
  prefault(bytes: number): Promise<number>;
}

/** Ask the model's backend to map a step's estimated heap; resolves to the bytes mapped (0: nothing asked). */
export function prepareHeap(model: Module, inputShape: readonly number[] | undefined, accum: number): Promise<number> {
  const params = model.parameters();
  if (!inputShape || prefaultOff() || params.length === 0) return Promise.resolve(0);
  return ask(params[0]!.backend, estimateStepBytes(model, microShape(inputShape, accum)));
}
