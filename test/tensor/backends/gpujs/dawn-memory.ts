/**
 * Device memory of the process's WebGPU buffers, counted at the Dawn level (the `webgpu` package's
 * GPUDevice.createBuffer / GPUBuffer.destroy, wrapped): live bytes now and their peak since the last `resetPeak`.
 * Counts every buffer gpu.js and the backend create (tensors, uniform blocks, staging copies for readback), so the
 * peak is what the device must hold. Install before the gpujs-webgpu backend creates any buffer.
 */

interface Proto {
  prototype: Record<string, (...a: unknown[]) => unknown>;
}

export interface DawnMemory {
  /** Bytes of buffers created and not yet destroyed. */
  live(): number;
  /** Highest `live()` since install or the last resetPeak. */
  peak(): number;
  /** Start a new peak from the current live bytes. */
  resetPeak(): void;
  /** Restore the unwrapped methods. */
  uninstall(): void;
}

/** Wrap createBuffer/destroy of the `webgpu` package's globals; sizes are remembered per buffer object. */
export async function installDawnMemory(): Promise<DawnMemory> {
  const { globals } = (await import('webgpu')) as unknown as { globals: Record<string, Proto> };
  const d = globals.GPUDevice!.prototype;
  const b = globals.GPUBuffer!.prototype;
  const create = d.createBuffer!;
  const destroy = b.destroy!;
  const sizes = new WeakMap<object, number>();
  let live = 0;
  let peak = 0;
  d.createBuffer = function (this: unknown, ...a: unknown[]) {
    const buf = create.apply(this, a) as object;
    const size = Number((a[0] as { size: number }).size);
    sizes.set(buf, size);
    live += size;
    if (live > peak) peak = live;
    return buf;
  };
  b.destroy = function (this: object, ...a: unknown[]) {
    const size = sizes.get(this);
    if (size !== undefined) {
      live -= size;
      sizes.delete(this);
    }
    return destroy.apply(this, a);
  };
  return {
    live: () => live,
    peak: () => peak,
    resetPeak: () => {
      peak = live;
    },
    uninstall: () => {
      d.createBuffer = create;
      b.destroy = destroy;
    },
  };
}
