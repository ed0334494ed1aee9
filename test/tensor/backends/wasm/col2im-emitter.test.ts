/**
 * kernels-col2im.ts was rewritten from positional stack code into named expressions (issue 25). A rewrite that
 * keeps the code equivalent keeps the emitted bytes identical, so this pins the col2im module to the bytes the
 * stack-code version emitted (SHA-256 and length measured on it, commit 55da3de): any change to the kernel's
 * instructions fails here and must be re-benched and re-pinned on purpose.
 * Re-pinned for the stride-2 windows one lane off the row (4x4 outputs from 8x8 maps): bench/conv-sites-ab.ts and
 * a per-shape probe, 1 thread: grad-input 3x3/2 32->32 from 8x8 at batch 128 1.75 -> 1.35-1.45 ms, 64->64
 * 5.5-5.9 -> 4.7-4.9 ms; the results are the scalar path's bits (conv-small-maps.test.ts shapes).
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
    expect(bytes.length).toBe(1490);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      '79713bbd173e6062fd76ad7e8d101262416d2b3e5c9c23d3e069e114fdf67e50',
    );
  });
});
