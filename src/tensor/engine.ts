/**
 * Engine state: the default backend, the grad mode (`noGrad`), and memory scopes (`tidy`, `keep`, `memory`).
 *
 * Memory model: a Tensor is a view over a refcounted Storage owned by a backend. `dispose()` drops the view's
 * reference; the backend buffer is freed when the last view goes. Inside `tidy(fn)`, every tensor created is
 * disposed when fn returns, except the returned ones (any nesting of arrays/objects) and those passed to
 * `keep()`. Autograd keeps `.grad` tensors and optimizers keep their state, so a training step in a tidy scope
 * leaves the live-buffer count flat.
 */

import { BackendError } from '../errors.js';
import type { Backend } from './backend.js';
import { createReferenceBackend } from './backends/reference/index.js';

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

let defaultBackend: Backend | null = null;
let gradEnabled = true;
const scopes: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

/** The backend new tensors are created on (the reference backend until `setBackend` is called). */
export function getDefaultBackend(): Backend {
  if (!defaultBackend) defaultBackend = createReferenceBackend();
  return defaultBackend;
}

/** Make `b` the backend for tensors created from now on. Returns the previous one. */
export function setDefaultBackend(b: Backend): Backend | null {
  const prev = defaultBackend;
  defaultBackend = b;
  return prev;
}

/** Forget the default backend if it is `b` (after disposing it); the next use recreates the reference. */
export function clearDefaultBackend(b: Backend): void {
  if (defaultBackend === b) defaultBackend = null;
}

/** Whether operations record the autograd graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn with gradient recording off (PyTorch's torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Run fn with gradient recording on (for code called under noGrad that must record). */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Called by every Tensor constructor: registers it with the innermost tidy scope. */
export function trackTensor(t: Disposable): void {
  const s = scopes[scopes.length - 1];
  if (s) s.add(t);
}

/** Exempt t from disposal by enclosing tidy scopes. Returns t. */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<unknown>, depth = 0): void {
  if (value === null || value === undefined || depth > 8) return;
  if (typeof value !== 'object') return;
  if ('dispose' in (value as object) && 'isDisposed' in (value as object)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, depth + 1);
  }
}

/**
 * Run fn; dispose every tensor it created except those it returns (searched through arrays, plain objects and
 * Maps) and those kept. Returned tensors move to the enclosing scope. fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new BackendError('tidy: the function returned a Promise; tidy scopes are synchronous');
  }
  const keepSet = new Set<unknown>();
  collect(result, keepSet);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepSet.has(t) || kept.has(t)) {
      if (parent && !kept.has(t)) parent.add(t);
      continue;
    }
    if (!t.isDisposed) t.dispose();
  }
  return result;
}

/** Live backend buffers of the default backend (PyTorch has no equivalent; tfjs calls it memory().numTensors). */
export function memory(backend: Backend = getDefaultBackend()): { liveBuffers: number } {
  return { liveBuffers: backend.liveBuffers() };
}
