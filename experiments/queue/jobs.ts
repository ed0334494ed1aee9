/**
 * What the queue layer puts in Redis: the BullMQ queue of a protocol (one per settings: `bit-ts-repro` or
 * `bit-ts-repro-quick`), idempotent job ids (run id + a hash of the run's settings, so enqueueing twice adds
 * nothing and a changed protocol never reuses a stale job), the job payloads, and the connection options of a
 * `redis://HOST:PORT/DB` URL.
 * Invariants: a job id is a pure function of (run id, settings); payloads carry names and the settings hash
 * only, never seeds or data: a worker rebuilds the run from its own copy of experiments/lib (same code, same
 * settings), and refuses a job whose settings hash differs from its own.
 */

import { createHash } from 'node:crypto';
import { ConfigError } from '../../src/errors.js';
import type { RunDef } from '../lib/protocol.js';
import type { Settings } from '../lib/settings.js';

/** Payload of a run job. */
export interface RunJobData {
  kind: 'run';
  id: string;
  experiment: string;
  settings: string;
  deps: string[];
}

/** Payload of a table job (parent of an experiment's runs) and of the protocol job (parent of the tables). */
export interface GroupJobData {
  kind: 'table' | 'protocol';
  name: string;
  settings: string;
}

export type JobData = RunJobData | GroupJobData;

/** Short hash of the settings (and so of every run's config): part of every job id. */
export function settingsHash(s: Settings): string {
  return createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 12);
}

/** The BullMQ queue name of a protocol. */
export function queueName(s: Settings): string {
  return s.quick ? 'bit-ts-repro-quick' : 'bit-ts-repro';
}

/** Job id of a run (BullMQ ids may not contain ':' and must not look like integers). */
export function runJobId(s: Settings, id: string): string {
  return `run.${id}.${settingsHash(s)}`;
}

/** Job id of a table (an experiment's parent job) or of the protocol job. */
export function groupJobId(s: Settings, kind: 'table' | 'protocol', name: string): string {
  return `${kind}.${name}.${settingsHash(s)}`;
}

/** Connection options of a `redis://[:PASSWORD@]HOST:PORT[/DB]` URL for bullmq (ioredis). */
export function connectionOf(url: string): { url: string; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--queue: '${url}' is not a URL; expected redis://HOST:PORT/DB`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ConfigError(`--queue: '${url}' is not a redis:// URL; expected redis://HOST:PORT/DB`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new ConfigError(`--queue: database '${db}' in '${url}' is not a number`);
  // null: commands wait for a reconnect instead of failing (workers ride out a Redis restart)
  return { url, maxRetriesPerRequest: null };
}

/**
 * Depth of each run in the dependency graph (0: no prerequisites): BullMQ priority depth + 1, so runs that
 * others wait for are taken first.
 */
export function depths(runs: readonly RunDef[]): Map<string, number> {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const memo = new Map<string, number>();
  const depth = (id: string): number => {
    const have = memo.get(id);
    if (have !== undefined) return have;
    const r = byId.get(id);
    const d = r?.deps.length ? 1 + Math.max(...r.deps.map(depth)) : 0;
    memo.set(id, d);
    return d;
  };
  for (const r of runs) depth(r.id);
  return memo;
}

/** `ids` and every run they need, transitively (what a local `reproduce <name>` would run when missing). */
export function withPrerequisites(all: readonly RunDef[], ids: readonly string[]): RunDef[] {
  const byId = new Map(all.map((r) => [r.id, r]));
  const need = new Set<string>();
  const visit = (id: string) => {
    if (need.has(id)) return;
    need.add(id);
    for (const d of byId.get(id)?.deps ?? []) visit(d);
  };
  for (const id of ids) visit(id);
  return all.filter((r) => need.has(r.id));
}
