/**
 * A persistent PyTorch peer (bench/torch_peer.py --serve) driven one command at a time, so the side-by-side bench
 * can alternate rounds (ours, PyTorch, ours, PyTorch, ...) within one run. The interpreter is BIT_TORCH_PYTHON,
 * else the repository's .venv-torch/bin/python when present, else python3. Each peer runs under one OpenMP wait
 * policy (`policy`: 'PASSIVE', or null for OpenMP's default short spin): PyTorch is fastest spinning on an idle
 * machine and passive on a loaded one (measured here at load ~4.5: bit-tiny step 1023 ms spinning against 65 ms
 * passive), so the side-by-side bench runs one peer of each and keeps, per row, the faster one.
 */

import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** The Python that runs the PyTorch peer. */
export function torchPython(): string {
  if (process.env.BIT_TORCH_PYTHON) return process.env.BIT_TORCH_PYTHON;
  const venv = new URL('../.venv-torch/bin/python', import.meta.url).pathname;
  return existsSync(venv) ? venv : 'python3';
}

/** Whether `import torch` works in {@link torchPython}; the reason when it does not. */
export function torchAvailable(): { ok: boolean; why: string } {
  const py = torchPython();
  const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0
    ? { ok: true, why: '' }
    : { ok: false, why: `${py} -c "import torch" failed: ${(r.stderr ?? String(r.error)).trim().split('\n').pop()}` };
}

export class TorchServer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  readonly info: Promise<{ torch: string; threads: number }>;

  constructor(readonly policy: string | null) {
    const env = { ...process.env };
    if (policy) env.OMP_WAIT_POLICY = policy;
    else delete env.OMP_WAIT_POLICY;
    this.proc = spawn(torchPython(), [new URL('./torch_peer.py', import.meta.url).pathname, '--serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    let err = '';
    this.proc.stderr.on('data', (d) => {
      err = (err + String(d)).slice(-4000);
    });
    this.proc.on('exit', (code) => {
      if (code !== 0 && code !== null) console.error(`PyTorch peer exited with ${code}: ${err}`);
    });
    this.lines = createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
    this.info = this.next() as Promise<{ torch: string; threads: number }>;
  }

  private async next(): Promise<Record<string, unknown>> {
    const r = await this.lines.next();
    if (r.done) throw new Error('PyTorch peer closed its output');
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  private async ask(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.info;
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    return this.next();
  }

  /** Build a case and time its first call. */
  async setup(id: string, c: Record<string, unknown>): Promise<{ firstMs: number; params: number | null }> {
    const r = await this.ask({ op: 'setup', id, ...c });
    return { firstMs: r.first_ms as number, params: (r.params as number | null) ?? null };
  }

  /** Time `reps` calls of a case (ms each). */
  async time(id: string, reps: number): Promise<number[]> {
    return (await this.ask({ op: 'time', id, reps })).ms as number[];
  }

  /** Peak RSS of the peer so far (bytes). */
  async peakRss(): Promise<number> {
    return ((await this.ask({ op: 'rss' })).rss_kib as number) * 1024;
  }

  async drop(id: string): Promise<void> {
    await this.ask({ op: 'drop', id });
  }

  close(): void {
    this.proc.stdin.end();
  }
}
