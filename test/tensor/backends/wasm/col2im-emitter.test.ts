/**
 * kernels-col2im.ts was rewritten from positional stack code into named expressions (issue 25). A rewrite that
 * keeps the code equivalent keeps the emitted bytes identical, so this pins the col2im module to the bytes the
 * stack-code version emitted (SHA-256 and length measured on it, commit 55da3de): any change to the kernel's
 * instructions fails here and must be re-benched and re-pinned on purpose.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emitCol2im } from '../../../../src/tensor/backends/wasm/kernels-col2im.js';
import { ModuleBuilder } from '../../../../src/tensor/backends/wasm/module-builder.js';

describe('col2im emitter', () => {
  it('emits the same module bytes as the stack-code version it replaced', () => {
    const m = new ModuleBuilder();
    emitCol2im(m);
    const bytes = m.build(1, 2, true);
    expect(bytes.length).toBe(1250);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      'eda2caf9a17a4c8ebf33a56efc0290836c8eeebdce2de680bb77e4d568681c9c',
    );
  });
});
