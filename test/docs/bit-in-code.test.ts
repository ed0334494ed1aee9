/**
 * docs/bit-in-code.md cannot rot: every `file:line` reference must point at a line that still holds the code quoted
 * next to it, and every ```ts snippet runs (each is written to a temporary module next to the repository root, so
 * written to test-output/bit-in-code/ with its `./src/...` imports made relative to there, and imported; its own
 * asserts decide).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/tensor/backends/registry.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs/bit-in-code.md'), 'utf8');
const TMP = path.join(ROOT, 'test-output/bit-in-code');

/** `src/x.ts:12` (`code`) pairs of the doc. */
const refs = [...DOC.matchAll(/`((?:src|web)\/[\w./-]+\.ts):(\d+)`\s*\(`([^`]+)`\)/g)].map((m) => ({
  file: m[1]!,
  line: Number(m[2]),
  code: m[3]!,
}));
const snippets = [...DOC.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const sections = [...DOC.matchAll(/^## (\d)\. (.+)$/gm)].map((m) => m[2]!);

describe('docs/bit-in-code.md', () => {
  beforeAll(async () => {
    await useBackend('reference');
    fs.mkdirSync(TMP, { recursive: true });
  });

  it("tells the paper's ideas in order, each with references and a snippet", () => {
    expect(sections).toEqual([
      'Pre-activation ResNetV2',
      'GroupNorm + Weight Standardization',
      'Upstream pre-training, then transfer with a zero head',
      'The BiT-HyperRule',
      'MixUp',
      'The few-shot protocol',
    ]);
    expect(snippets).toHaveLength(6);
    expect(refs.length).toBeGreaterThanOrEqual(12);
  });

  it('every file:line reference points at the code it quotes', () => {
    const stale: string[] = [];
    for (const r of refs) {
      const lines = fs.readFileSync(path.join(ROOT, r.file), 'utf8').split('\n');
      const at = lines[r.line - 1] ?? '';
      if (!at.includes(r.code)) {
        const found = lines.findIndex((l) => l.includes(r.code));
        stale.push(`${r.file}:${r.line} does not hold \`${r.code}\`${found >= 0 ? ` (now at line ${found + 1})` : ''}`);
      }
    }
    expect(stale).toEqual([]);
  });

  snippets.forEach((code, i) => {
    it(`snippet ${i + 1} (${sections[i]}) runs and its asserts hold`, async () => {
      // the snippet's ./src imports are relative to the repository root; the module sits two folders below it
      const file = path.join(TMP, `snippet-${i + 1}.ts`);
      fs.writeFileSync(file, code.replaceAll("from './src/", "from '../../src/"));
      await import(pathToFileURL(file).href);
    });
  });
});
