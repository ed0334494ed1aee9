/**
 * `bit-ts convert IN OUT`: read any supported weight file (official .npz, timm/ours .safetensors, MindCV .ckpt,
 * bit-ts training checkpoints) and write OUT in the format its extension names, with that format's names and
 * layout: .npz -> official BiT names (HWIO), .safetensors -> timm/our names (OIHW), .ckpt -> MindCV names.
 * Optimizer state is reported and not written; an entry that cannot be mapped fails the command (nothing is
 * written) unless --allow_partial.
 */

import * as path from 'node:path';
import { CheckpointError, ConfigError } from '../errors.js';
import { toBitNpz, toMindCV } from '../models/index.js';
import { loadWeightsFile, writeCkptAtomic, writeNpzAtomic, writeSafetensorsAtomic } from '../models/node.js';
import type { Args } from './args.js';

export const CONVERT_HELP = `bit-ts convert IN OUT [--allow_partial]
  Read IN (official BiT .npz, timm/ours .safetensors, MindCV .ckpt, a bit-ts training checkpoint) and write
  OUT in the format its extension names, with that format's names and layout:
    .npz          official BiT names, HWIO kernels
    .safetensors  timm / bit-ts names, OIHW kernels
    .ckpt         MindCV names
  Optimizer state (momentum, step counters) is never written and is listed. An entry that cannot be mapped
  to OUT's names (an unknown or damaged name) makes convert fail, naming it, and write nothing.
  --allow_partial   write the mappable tensors anyway and list the rest (exit 0)`;

/** Run the command; returns the exit code. */
export async function convertCommand(args: Args): Promise<number> {
  const [input, output] = args.positional;
  if (!input || !output) throw new ConfigError(`usage:\n${CONVERT_HELP}`);
  const allowPartial = args.flags.allow_partial === 'true';
  const unknownFlags = Object.keys(args.flags).filter((f) => f !== 'allow_partial');
  if (unknownFlags.length) throw new ConfigError(`convert: unknown option '--${unknownFlags[0]}'\n${CONVERT_HELP}`);
  const w = loadWeightsFile(input);
  const ext = path.extname(output).toLowerCase();
  let write: () => void;
  let written = 0;
  let dropped: string[] = [];
  if (ext === '.npz') {
    const m = toBitNpz(w.weights);
    write = () => writeNpzAtomic(output, m.weights);
    written = m.weights.size;
    dropped = m.unexpected;
  } else if (ext === '.safetensors') {
    write = () => writeSafetensorsAtomic(output, w.weights);
    written = w.weights.size;
  } else if (ext === '.ckpt') {
    const m = toMindCV(w.weights);
    write = () => writeCkptAtomic(output, m.weights);
    written = m.weights.size;
    dropped = m.unexpected;
  } else {
    throw new ConfigError(`convert: output extension '${ext}' is not .npz, .safetensors or .ckpt`);
  }
  const unmapped = [...w.unexpected, ...dropped];
  if (unmapped.length && !allowPartial) {
    const list = unmapped.slice(0, 5).map((n) => `'${n}'`);
    throw new CheckpointError(
      `${input}: ${unmapped.length} model ${unmapped.length === 1 ? 'entry' : 'entries'} cannot be mapped to ` +
        `${ext} names and would not be written: ${list.join(', ')}${unmapped.length > 5 ? ', ...' : ''}. ` +
        `Nothing written; --allow_partial writes the other ${written} tensors`,
    );
  }
  write();
  console.log(`${input} (${w.format}, ${w.naming} names) -> ${output}: ${written} tensors`);
  if (w.skipped.length) {
    console.log(`not written: ${w.skipped.length} optimizer-state entries, e.g. ${w.skipped.slice(0, 3).join(', ')}`);
  }
  if (unmapped.length) {
    console.log(`not written (--allow_partial): ${unmapped.length} unmapped entries: ${unmapped.join(', ')}`);
  }
  return 0;
}
