/**
 * `bit-ts convert IN OUT`: read any supported weight file (official .npz, timm/ours .safetensors, MindCV .ckpt,
 * bit-ts training checkpoints) and write OUT in the format its extension names, with that format's names and
 * layout: .npz -> official BiT names (HWIO), .safetensors -> timm/our names (OIHW), .ckpt -> MindCV names.
 * Optimizer state and unknown entries are reported and not written.
 */

import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { toBitNpz, toMindCV } from '../models/index.js';
import { loadWeightsFile, writeCkptAtomic, writeNpzAtomic, writeSafetensorsAtomic } from '../models/node.js';
import type { Args } from './args.js';

/** Run the command; returns the exit code. */
export async function convertCommand(args: Args): Promise<number> {
  const [input, output] = args.positional;
  if (!input || !output)
    throw new ConfigError('usage: bit-ts convert IN OUT (OUT extension: .npz, .safetensors, .ckpt)');
  const w = loadWeightsFile(input);
  const ext = path.extname(output).toLowerCase();
  let written = 0;
  let dropped: string[] = [];
  if (ext === '.npz') {
    const m = toBitNpz(w.weights);
    writeNpzAtomic(output, m.weights);
    written = m.weights.size;
    dropped = m.unexpected;
  } else if (ext === '.safetensors') {
    writeSafetensorsAtomic(output, w.weights);
    written = w.weights.size;
  } else if (ext === '.ckpt') {
    const m = toMindCV(w.weights);
    writeCkptAtomic(output, m.weights);
    written = m.weights.size;
    dropped = m.unexpected;
  } else {
    throw new ConfigError(`convert: output extension '${ext}' is not .npz, .safetensors or .ckpt`);
  }
  console.log(`${input} (${w.format}, ${w.naming} names) -> ${output}: ${written} tensors`);
  const notes = [...w.unexpected, ...w.skipped, ...dropped];
  if (notes.length) {
    console.log(
      `not written: ${notes.length} entries (optimizer state / unknown), e.g. ${notes.slice(0, 3).join(', ')}`,
    );
  }
  return 0;
}
