/**
 * Messages between the study page (main thread: UI only) and its worker (the engine). Plain data only: typed
 * arrays travel by structured clone, checkpoint bytes by transfer.
 */

import type { ProbeResult } from '../src/tensor/backends/registry.js';
import type { GnRow, StemFilters } from './lib/insight.js';
import type { RunName, StudyConfig, StudyEvent } from './lib/study.js';

export type ToWorker =
  | { type: 'probe' }
  | { type: 'estimate'; backends: string[]; config: StudyConfig }
  | { type: 'start'; backend: string; config: StudyConfig }
  | { type: 'stop' }
  | { type: 'load-weights'; name: string; bytes: Uint8Array }
  | { type: 'infer'; rgba: Uint8ClampedArray; width: number; height: number }
  | { type: 'checkpoint' };

export type FromWorker =
  | { type: 'backends'; rows: ProbeResult[]; preferred: string; note: string; threads: string }
  | { type: 'started'; backend: string; info: string }
  | { type: 'event'; e: Exclude<StudyEvent, { kind: 'model' }> }
  | { type: 'stem'; title: string; filters: StemFilters }
  | { type: 'gn'; title: string; rows: GnRow[] }
  | { type: 'done'; stopped: boolean; seconds: number }
  | { type: 'weights'; lines: string[]; classes: string[] }
  | { type: 'prediction'; probs: number[]; classes: string[]; model: string; inverted: boolean }
  | { type: 'checkpoint'; bytes: Uint8Array; name: string }
  | { type: 'estimate'; backend: string; firstMs: number; stepMs: number; seconds: number }
  | { type: 'error'; message: string };

export type { RunName };

/** The page's state, mirrored on `window.__study` (the browser test reads it). */
export interface StudyState {
  state: 'probing' | 'ready' | 'running' | 'done' | 'error';
  /** 1, 2, ...: the run the panels show. */
  runId: number;
  backend: string;
  backends: ProbeResult[];
  losses: Record<RunName, number[]>;
  ms: Record<RunName, number[]>;
  top1: Record<RunName, [number, number][]>;
  /** Steps of each run's schedule and its held-out image count. */
  totals: Record<RunName, number>;
  heldOut: Record<RunName, number>;
  kshot: number;
  predictions: Partial<Record<RunName, { labels: number[]; predicted: number[]; right: boolean[] }>>;
  estimates: Record<string, { firstMs: number; stepMs: number; seconds: number }>;
  nan: string;
  error: string;
  crossOriginIsolated: boolean;
  /** Last classification of an image and the last weights-file report. */
  prediction: { probs: number[]; classes: string[]; model: string } | null;
  weights: string[];
}
