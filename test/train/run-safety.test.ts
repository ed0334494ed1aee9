// Issue 15 cases 2, 3, 9 (temp files, best record): resume continues with the checkpoint's own config and
// refuses breaking changes; one writer per run folder (lock, stale takeover); dead writers' temp files are
// removed; a best.safetensors left by an abandoned continuation is set aside on resume.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { resumeConfig } from '../../src/train/resume.js';
import { acquireRunLock, LOCK_FILE } from '../../src/train/run-lock.js';
import { train } from '../../src/train/trainer.js';
import { tinyConfig, tmpRun } from './helpers.js';

const over = {
  mnist_digits: [0, 1, 2],
  num_classes: 3,
  train_limit: 32, // exactly 32 since issue 23 (47 before): 2 batches of 16 per epoch
  epoch_size: 3,
  batch_size: 16,
  lr: 0.07,
  momentum: 0.9,
};

function lockBy(dir: string, pid: number, host = os.hostname()): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid, host, started: '2026-01-01T00:00:00Z' }));
}

describe('resume uses the checkpoint config (case 2)', () => {
  it('--resume alone continues the stored run; a different batch size is refused with the list', async () => {
    const dir = tmpRun('resume-cfg');
    const part = await train(tinyConfig(dir, { ...over, stop_after_steps: 2 }), { log: () => {} });
    expect(part.steps).toBe(2);
    const ck = path.join(dir, 'latest.safetensors');

    // no -c: the stored config (3 digits, lr 0.07, 3 epochs of 3 steps), not the defaults (MNIST, 10 classes)
    const cfg = resumeConfig(ck, null, {});
    expect(cfg.lr).toBe(0.07);
    expect(cfg.num_classes).toBe(3);
    expect(cfg.mnist_digits).toEqual([0, 1, 2]);
    expect(cfg.resume).toBe(ck);
    expect(cfg.stop_after_steps).toBe(0); // the stop belonged to the first invocation

    // a breaking change is refused before anything runs, naming key, old and new value
    let err: unknown;
    try {
      resumeConfig(ck, null, { batch_size: '8', lr: '0.1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('batch_size: 16 -> 8');
    expect((err as Error).message).toContain('lr: 0.07 -> 0.1');
    expect((err as Error).message).toContain('--allow_config_change');
    // the trainer checks too (library callers that build the config themselves)
    await expect(train({ ...cfg, batch_size: 8 }, { log: () => {} })).rejects.toThrow(/batch_size: 16 -> 8/);

    // harmless changes are applied and printed; the run finishes the stored schedule (3 epochs x 2 steps)
    const logs: string[] = [];
    const rest = await train(resumeConfig(ck, null, { log_interval: '3' }), { log: (m) => logs.push(m) });
    expect(logs.join('\n')).toContain('applying harmless config changes: log_interval: 10 -> 3');
    expect(rest.status).toBe('completed');
    expect(rest.steps).toBe(6);
  });

  it('--allow_config_change accepts a breaking change and says the continuation is not exact', async () => {
    const dir = tmpRun('resume-allow');
    await train(tinyConfig(dir, over), { log: () => {}, shouldStop: (s) => s === 1 });
    const logs: string[] = [];
    const cfg = resumeConfig(path.join(dir, 'latest.safetensors'), null, { lr: '0.01', stop_after_steps: '2' }, true);
    const r = await train(cfg, { log: (m) => logs.push(m), allowConfigChange: true });
    expect(r.status).toBe('completed');
    expect(logs.join('\n')).toMatch(/NOT an exact continuation.*lr: 0\.07 -> 0\.01/);
  });
});

describe('one writer per run folder (case 3)', () => {
  it('a second run into a folder held by a live process fails at once and touches nothing', async () => {
    const dir = tmpRun('lock-live');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      lockBy(dir, child.pid!);
      let err: unknown;
      try {
        await train(tinyConfig(dir, over), { log: () => {} });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`in use by another training run (pid ${child.pid}`);
      expect(fs.readdirSync(dir)).toEqual([LOCK_FILE]); // no metrics, config or checkpoint written
    } finally {
      child.kill();
    }
  });

  it('two concurrent runs in one process: the second is refused, the first completes with clean metrics', async () => {
    const dir = tmpRun('lock-two');
    const first = train(tinyConfig(dir, over), { log: () => {} });
    await expect(train(tinyConfig(dir, over), { log: () => {} })).rejects.toThrow(/already runs a training/);
    const r = await first;
    expect(r.status).toBe('completed');
    const steps = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number })
      .filter((x) => x.type === 'train')
      .map((x) => x.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false); // released
  });

  it('a stale lock (dead pid) is taken over with a notice; a lock from another host is not', () => {
    const dir = tmpRun('lock-stale');
    lockBy(dir, 2 ** 22 + 12345); // above Linux's pid_max default range: never alive
    const lock = acquireRunLock(dir);
    expect(lock.notices.join('\n')).toMatch(/took over a stale lock .*no longer running/);
    lock.release();
    lockBy(dir, 1, 'another-host.example');
    expect(() => acquireRunLock(dir)).toThrow(/another-host\.example.*delete/);
  });
});

describe('leftovers (case 9)', () => {
  it("dead writers' temp files are removed at start; a live writer's are kept", () => {
    const dir = tmpRun('temps');
    const dead = `.latest.safetensors.${2 ** 22 + 777}.abc123.tmp`;
    const live = `.best.safetensors.${process.pid}.def456.tmp`;
    fs.writeFileSync(path.join(dir, dead), new Uint8Array(1 << 20));
    fs.writeFileSync(path.join(dir, live), 'x');
    const lock = acquireRunLock(dir);
    expect(lock.notices.join('\n')).toContain(`removed 1 temp file(s) of dead writers: ${dead}`);
    expect(fs.existsSync(path.join(dir, dead))).toBe(false);
    expect(fs.existsSync(path.join(dir, live))).toBe(true);
    lock.release();
  });

  it('after crash + resume, a best.safetensors from the abandoned continuation is set aside', async () => {
    const dir = tmpRun('best');
    const o = { ...over, val_split: 0.25, val_limit: 16, val_while_train: true };
    await train(tinyConfig(dir, o), { log: () => {}, shouldStop: (s) => s === 1 }); // before the first eval
    const ck2 = path.join(dir, 'ck1.safetensors');
    fs.copyFileSync(path.join(dir, 'latest.safetensors'), ck2);
    expect(loadCheckpoint(ck2).meta.best).toBeNull();
    // the abandoned continuation ran on and wrote best.safetensors at a later step
    const abandoned = await train(tinyConfig(dir, { ...o, resume: ck2 }), { log: () => {} });
    expect(abandoned.status).toBe('completed');
    const abandonedBest = loadCheckpoint(path.join(dir, 'best.safetensors')).meta.step;
    expect(abandonedBest).toBeGreaterThan(1);
    // resuming from step 1 again must not keep that best file
    const logs: string[] = [];
    await train(tinyConfig(dir, { ...o, resume: ck2, stop_after_steps: 3 }), { log: (m) => logs.push(m) });
    expect(logs.join('\n')).toContain('is not the best of the resumed run');
    expect(fs.existsSync(path.join(dir, 'best-abandoned.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'best.safetensors'))).toBe(true); // the resumed run's own best
    const latest = loadCheckpoint(path.join(dir, 'latest.safetensors')).meta;
    expect(loadCheckpoint(path.join(dir, 'best.safetensors')).meta.step).toBe(latest.best!.step);
  });
});
