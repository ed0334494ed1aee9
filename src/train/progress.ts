/**
 * Progress reporting during training: a cli-progress bar (step, loss, lr, images/s, ETA) when stdout is a
 * TTY, plain log lines every `log_interval` steps otherwise, or nothing.
 *
 * Invariants: messages printed through `log` never tear the bar; `stop` is idempotent.
 */

import cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'bar' | 'plain' | 'none';

/** Per-step values shown. */
export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerS: number;
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${Math.round(s % 60)}s` : `${Math.round(s)}s`;
}

/** Reporter for one training run. */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly mode: 'bar' | 'plain' | 'none';
  private readonly t0 = Date.now();
  private startStep = 0;

  constructor(
    mode: ProgressMode,
    private readonly total: number,
    private readonly logInterval: number,
    private readonly label = 'train',
  ) {
    this.mode = mode === 'auto' ? (process.stdout.isTTY ? 'bar' : 'plain') : mode;
  }

  /** Start at `step` (non-zero when resuming). */
  start(step: number): void {
    this.startStep = step;
    if (this.mode !== 'bar') return;
    this.bar = new cliProgress.SingleBar(
      {
        format: `${this.label} |{bar}| {value}/{total} | loss {loss} | lr {lr} | {ips} img/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(this.total, step, { loss: '-', lr: '-', ips: '-' });
  }

  update(i: StepInfo): void {
    if (this.mode === 'bar' && this.bar) {
      this.bar.update(i.step, { loss: i.loss.toFixed(4), lr: i.lr.toExponential(2), ips: i.imagesPerS.toFixed(1) });
      return;
    }
    if (this.mode !== 'plain') return;
    if (i.step % this.logInterval !== 0 && i.step !== this.total) return;
    const el = (Date.now() - this.t0) / 1000;
    const eta = ((this.total - i.step) * el) / Math.max(1, i.step - this.startStep);
    console.log(
      `${this.label} step ${i.step}/${this.total} epoch ${i.epoch} loss ${i.loss.toFixed(4)} lr ${i.lr.toExponential(3)} ` +
        `${i.imagesPerS.toFixed(1)} img/s eta ${fmtEta(eta)}`,
    );
  }

  /** Print a message (above the bar when there is one). */
  log(msg: string): void {
    if (this.mode === 'none') return;
    if (this.bar) {
      this.bar.stop();
      console.log(msg);
      this.bar.start(this.total, (this.bar as unknown as { value: number }).value ?? 0);
      return;
    }
    console.log(msg);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
