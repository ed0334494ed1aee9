// Issue 23 cases 8 and 9 (flags and reproduce): an unknown option is an error for every command, with a
// suggestion drawn from that command's own options (`--shot` -> --shots, never the config key 'seed'; `--topk`
// gets none rather than 'opt'); `reproduce --quik` no longer starts the multi-hour protocol; `reproduce all`
// with every result present runs nothing and rewrites nothing, saying that --out DIR re-runs; `reproduce
// estimate` states the measured wall time of the committed results next to its speed-based estimate;
// `fewshot --seeds 0` is an error instead of a NaN / Infinity row. COMMAND_FLAGS is checked against what each
// command's source reads, so the list cannot drift.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { protocolRuns } from '../../experiments/lib/runs.js';
import { QUICK } from '../../experiments/lib/settings.js';
import { interruptGuard, reproduce } from '../../experiments/reproduce.js';
import { COMMAND_FLAGS } from '../../src/cli/flags.js';
import { main } from '../../src/cli/main.js';
import { ConfigError } from '../../src/errors.js';
import { SCHEMA } from '../../src/train/config.js';
import { captureConsole } from './console-capture.js';

const io = captureConsole();

describe('strict flags for every command', () => {
  const cases: [string[], RegExp][] = [
    [['reproduce', 'all', '--quik'], /reproduce: unknown option --quik; did you mean --quick\?/],
    [['models', '--foo'], /models: unknown option --foo \(bit-ts models --help/],
    [['backends', '--jsn'], /backends: unknown option --jsn; did you mean --json\?/],
    [['fewshot', '--shot', '5'], /fewshot: unknown option --shot; did you mean --shots\?/],
    [['infer', '--topk', '3', 'x.png'], /infer: unknown option --topk \(bit-ts infer --help lists its options and/],
    [['train', '--learning_rate', '0.1'], /train: unknown option --learning_rate; did you mean --lr\?/],
    [
      ['convert', 'a', 'b', '--allow-partail'],
      /convert: unknown option --allow_partail; did you mean --allow_partial\?/,
    ],
    [['demo', '--outt', 'x'], /demo: unknown option --outt; did you mean --out\?/],
    [['validate', '--ckpt', 'f'], /validate: unknown option --ckpt; did you mean --ckpt_path\?/],
  ];
  for (const [argv, want] of cases) {
    it(argv.join(' '), async () => {
      expect(await main(argv)).toBe(2);
      expect(io.err.at(-1)).toMatch(want);
      expect(io.err.at(-1)).not.toMatch(/'(seed|opt)'/);
    });
  }

  it('experiments/reproduce.ts run directly is as strict', async () => {
    await expect(reproduce(['all', '--quik'], () => {})).rejects.toThrow(ConfigError);
  });

  it('every command of main.ts has its options listed', () => {
    const main = fs.readFileSync(path.join(import.meta.dirname, '../../src/cli/main.ts'), 'utf8');
    const names = [...main.matchAll(/^ {2}'?([a-z-]+)'?: \{ run:/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThanOrEqual(10);
    for (const n of names) expect(Object.keys(COMMAND_FLAGS), n).toContain(n);
  });

  it("COMMAND_FLAGS holds every option each command's source reads", () => {
    for (const [cmd, spec] of Object.entries(COMMAND_FLAGS)) {
      const outside: Record<string, string> = {
        reproduce: '../../experiments/reproduce.ts',
        worker: '../../experiments/queue/command.ts',
      };
      const file = path.join(import.meta.dirname, outside[cmd] ?? `../../src/cli/${cmd}.ts`);
      const src = fs.readFileSync(file, 'utf8');
      for (const m of src.matchAll(
        /take\(flags, '([a-z_0-9]+)'\)|(?<![\w/])(?:args\.)?flags(?:In)?\.([a-z_0-9]+)\b(?!\.)|flags\['([a-z_0-9]+)'\]/g,
      )) {
        const name = m[1] ?? m[2] ?? m[3]!;
        if (name === 'help') continue;
        const known = spec.own.includes(name) || (spec.configKeys && Object.hasOwn(SCHEMA, name));
        expect(known, `${cmd} reads --${name}`).toBe(true);
      }
    }
  });

  it('fewshot --seeds 0 is an error, not a NaN / Infinity row', async () => {
    expect(await main(['fewshot', '--seeds', '0'])).toBe(2);
    expect(io.err.at(-1)).toMatch(/--seeds must be at least 1/);
  });
});

describe('reproduce traps', () => {
  it('all with every result present runs nothing, rewrites nothing and says --out DIR re-runs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-repro-done-'));
    const ids = protocolRuns(QUICK).map((r) => r.id);
    for (const id of ids) fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify({ id, wallS: 2 }));
    const before = fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]);
    const logs: string[] = [];
    const code = await reproduce(['all', '--quick', '--out', dir, '--work', path.join(dir, 'w')], (m) => logs.push(m));
    expect(code).toBe(0);
    expect(logs.join('\n')).toMatch(
      new RegExp(`all ${ids.length} runs of 'all' already have results in .*nothing rewritten.*--out DIR`),
    );
    expect(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs])).toEqual(before);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('estimate states the measured time of the committed results (the README figure) next to the estimate', async () => {
    const logs: string[] = [];
    expect(await reproduce(['estimate'], (m) => logs.push(m))).toBe(0);
    const text = logs.join('\n');
    const m = /measured: the (\d+) runs in \S+ took (\d+) min/.exec(text);
    expect(m, text).not.toBeNull();
    const min = Number(m![2]);
    // README: "about 1.5 h on 2 cores"
    expect(min).toBeGreaterThan(60);
    expect(min).toBeLessThan(120);
    expect(fs.readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8')).toContain('about 1.5 h on 2');
  });
});

describe('reproduce: a Ctrl-C is never swallowed (case 8)', () => {
  it("a request that arrives between runs or in a run's last step is kept until the loop checks it", () => {
    const logs: string[] = [];
    const before = process.listenerCount('SIGINT');
    const g = interruptGuard((m) => logs.push(m));
    try {
      expect(g.requested()).toBe(false);
      process.emit('SIGINT', 'SIGINT');
      expect(g.requested()).toBe(true);
      expect(logs).toEqual(['interrupt: stopping after the current run step (Ctrl-C again exits at once)']);
    } finally {
      g.release();
    }
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
