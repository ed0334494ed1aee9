/**
 * The queue layer's pure parts (no Redis): job ids are a function of (run, settings) only, a changed setting
 * changes every id, queue names per protocol, redis:// URL checks, the prerequisite closure and depths of the
 * protocol's DAG (BullMQ priorities), and `--settings` files merged over a protocol (unknown keys refused).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { protocolRuns } from '../../experiments/lib/runs.js';
import { FULL, QUICK } from '../../experiments/lib/settings.js';
import { loadSettings } from '../../experiments/lib/settings-file.js';
import {
  connectionOf,
  depths,
  queueName,
  runJobId,
  settingsHash,
  withPrerequisites,
} from '../../experiments/queue/jobs.js';
import { ConfigError } from '../../src/errors.js';

describe('queue jobs', () => {
  it('job ids depend on the run and the settings only', () => {
    expect(runJobId(QUICK, 'up-tiny')).toBe(runJobId({ ...QUICK }, 'up-tiny'));
    expect(runJobId(QUICK, 'up-tiny')).not.toBe(runJobId(QUICK, 'up-imagenette'));
    const longer = { ...QUICK, upstreams: { ...QUICK.upstreams, tiny: { ...QUICK.upstreams.tiny, steps: 5 } } };
    expect(runJobId(longer, 'up-tiny')).not.toBe(runJobId(QUICK, 'up-tiny'));
    expect(settingsHash(QUICK)).toMatch(/^[0-9a-f]{12}$/);
    expect(runJobId(QUICK, 'up-tiny')).not.toContain(':');
    expect(queueName(QUICK)).not.toBe(queueName(FULL));
  });

  it('accepts redis:// URLs and names what is wrong with others', () => {
    expect(connectionOf('redis://10.0.0.5:6379/2').url).toBe('redis://10.0.0.5:6379/2');
    expect(() => connectionOf('http://host:6379')).toThrow(/not a redis:\/\/ URL/);
    expect(() => connectionOf('redis://host:6379/x')).toThrow(/database 'x'/);
    expect(() => connectionOf('nonsense')).toThrow(ConfigError);
  });

  it('a transfer needs its upstream; depths order prerequisites first', () => {
    const all = protocolRuns(QUICK);
    const need = withPrerequisites(all, ['fewshot-scratch-k1-s0']).map((r) => r.id);
    expect(need).toContain('grid-scratch-k1-ext');
    expect(need).toContain('grid-scratch-k1-lr0.01-st3');
    expect(need).not.toContain('up-tiny');
    expect(
      withPrerequisites(all, ['fewshot-tiny-k1-s0'])
        .map((r) => r.id)
        .sort(),
    ).toEqual(['fewshot-tiny-k1-s0', 'up-tiny']);
    const d = depths(all);
    expect(d.get('up-tiny')).toBe(0);
    expect(d.get('grid-scratch-k1-ext')).toBe(1);
    expect(d.get('fewshot-scratch-k1-s0')).toBe(2);
    for (const r of all) for (const dep of r.deps) expect(d.get(dep)!).toBeLessThan(d.get(r.id)!);
  });

  it('--settings merges over the protocol and refuses unknown keys', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-settings-'));
    try {
      const f = path.join(dir, 's.json');
      fs.writeFileSync(f, JSON.stringify({ seeds: [0, 1, 2], upstreams: { tiny: { steps: 7 } } }));
      const s = loadSettings(true, f);
      expect(s.seeds).toEqual([0, 1, 2]);
      expect(s.upstreams.tiny.steps).toBe(7);
      expect(s.upstreams.tiny.batch).toBe(QUICK.upstreams.tiny.batch);
      expect(s.upstreams.imagenette).toEqual(QUICK.upstreams.imagenette);
      expect(protocolRuns(s).filter((r) => r.experiment === 'fewshot').length).toBe(
        3 * protocolRuns(QUICK).filter((r) => r.experiment === 'fewshot').length,
      );
      fs.writeFileSync(f, JSON.stringify({ upstreams: { tiny: { stpes: 7 } } }));
      expect(() => loadSettings(true, f)).toThrow(/upstreams\.tiny\.stpes: no such protocol setting/);
      expect(loadSettings(false)).toBe(FULL);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
