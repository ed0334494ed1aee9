/**
 * kernels-col2im.ts was rewritten from positional stack code into named expressions (issue 25). A rewrite that
 * keeps the code equivalent keeps the emitted bytes identical, so this pins the col2im module to the bytes the
 * stack-code version emitted (SHA-256 and length measured on it, commit 55da3de): any change to the kernel's
 * instructions fails here and must be re-benched and re-pinned on purpose.
 * Re-pinned for the stride-2 windows one lane off the row (4x4 outputs from 8x8 maps): bench/conv-sites-ab.ts and
 * a per-shape probe, 1 thread: grad-input 3x3/2 32->32 from 8x8 at batch 128 1.75 -> 1.35-1.45 ms, 64->64
 * 5.5-5.9 -> 4.7-4.9 ms; the results are the scalar path's bits (conv-small-maps.test.ts shapes).
 * Re-pinned when dx stopped being zeroed at allocation: col2im zeroes each plane with f32x4 stores (was scalar),
 * the only zeroing dx now gets (test/tensor/backends/wasm/conv-output-init.test.ts poisons the buffer).
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emitCol2im } from '../../../../src/tensor/backends/wasm/kernels-col2im.js';
import { ModuleBuilder } from '../../../../src/tensor/backends/wasm/module-builder.js';

describe('col2im emitter', () => {
  it('emits the pinned module bytes', () => {
    const m = new ModuleBuilder();
    emitCol2im(m);
    const bytes = m.build(1, 2, true);
    expect(bytes.length).toBe(1553);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      '052daef1aa0034083bf039c574bf17e36b869bc4287c6a8c28ff013b7bede455',
    );
  });
});
