/**
 * `bit-ts infer --ckpt_path FILE IMAGE...`: the top-5 labels (with softmax probabilities) of each image file
 * (JPEG / PNG), preprocessed with the checkpoint config's evaluation transform. Class names come from a bit-ts
 * training checkpoint; other weight files need -c CONFIG or --model/--num_classes (labels are then indices).
 */

import * as fs from 'node:fs';
import { applyTransform, decodeImage, Rng } from '../data/index.js';
import { ConfigError, DataError } from '../errors.js';
import { setupBackend } from '../train/backend-setup.js';
import { transformsOf } from '../train/data-setup.js';
import { countNonFiniteRows, predictBatch, topK } from '../train/evaluate.js';
import { buildModel, loadForPrediction } from '../train/model-setup.js';
import type { Args } from './args.js';
import { configForCheckpoint, predictionOptions } from './validate.js';

/** Run the command; returns the exit code. */
export async function inferCommand(args: Args): Promise<number> {
  if (args.positional.length === 0) throw new ConfigError('usage: bit-ts infer --ckpt_path FILE IMAGE...');
  const { cfg, spec, classes, ckpt, training } = configForCheckpoint(args.flags);
  await setupBackend(cfg.backend, cfg.threads);
  const { evalSpec } = transformsOf(cfg);
  const model = buildModel(spec);
  try {
    for (const l of loadForPrediction(model, ckpt, training, predictionOptions(cfg, args.flags))) console.error(l);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  const results: { image: string; top5: { label: string; index: number; prob: number }[] }[] = [];
  const nonFinite: string[] = [];
  for (const file of args.positional) {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      throw new DataError(`${file}: cannot read image: ${(e as Error).message}`);
    }
    const s = applyTransform(evalSpec, decodeImage(bytes, file), new Rng(0));
    const logits = await predictBatch(model, { images: s.data, shape: [1, s.channels, s.height, s.width] });
    const c = logits.length;
    if (countNonFiniteRows(logits, 1, c) > 0) nonFinite.push(file);
    const mx = Math.max(...logits);
    const ex = Array.from(logits, (v) => Math.exp(v - mx));
    const z = ex.reduce((a, b) => a + b, 0);
    const top = topK(logits, c, 0, 5).map((i) => ({ label: classes?.[i] ?? String(i), index: i, prob: ex[i]! / z }));
    results.push({ image: file, top5: top });
  }
  model.dispose();
  if (args.flags.json) console.log(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      console.log(r.image);
      for (const t of r.top5) {
        const p = Number.isFinite(t.prob) ? `${(100 * t.prob).toFixed(2)}%` : 'non-finite output';
        console.log(`  ${t.label.padEnd(12)} ${p}`);
      }
    }
  }
  if (nonFinite.length) {
    console.error(
      `error: the model's outputs are not finite (NaN/Inf logits) for ${nonFinite.length} of ${results.length} ` +
        `images (${nonFinite.slice(0, 3).join(', ')}${nonFinite.length > 3 ? ', ...' : ''}): those predictions ` +
        `are meaningless; the weights or the images are damaged (exit 3)`,
    );
    return 3;
  }
  return 0;
}
