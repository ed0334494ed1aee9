/**
 * Device memory of the gpujs-webgpu backend: tensors live in GPU storage buffers from upload (or kernel output)
 * until freed. A `DeviceArray` is a window (offset, length) on one refcounted gpu.js `WebGPUBufferResult`, the
 * handle gpu.js 2.24's pipeline kernels return and accept as arguments; `DeviceMemory` creates, copies, assembles,
 * reads back and releases them, and counts every byte that crosses between host and device.
 *
 * Invariants: every handle a tensor buffer holds carries exactly one reference of its own (`retain` clones,
 * `release` deletes); host memory is touched only by `upload` (queue.writeBuffer) and `read` (mapAsync of a staging
 * copy); windows, assembly and in-place replacement are device-side copies (copyBufferToBuffer), never readbacks;
 * a buffer larger than the adapter's `maxStorageBufferBindingSize` / `maxBufferSize` is a BackendError naming it.
 */

import gpujs from 'gpu.js';
import { BackendError } from '../../../errors.js';

/** gpu.js's pipeline handle (untyped in its typings): a refcounted GPUBuffer plus its logical output size. */
export interface BufferHandle {
  readonly buffer: GpuBuffer;
  readonly output: number[];
  readonly _deleted: boolean;
  clone(): BufferHandle;
  delete(): void;
}

interface GpuBuffer {
  readonly size: number;
  destroy(): void;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
}

interface GpuDevice {
  readonly limits: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number };
  readonly queue: {
    writeBuffer(b: GpuBuffer, offset: number, data: Float32Array): void;
    submit(cmds: unknown[]): void;
  };
  createBuffer(d: { size: number; usage: number }): GpuBuffer;
  createCommandEncoder(): {
    copyBufferToBuffer(src: GpuBuffer, so: number, dst: GpuBuffer, d: number, size: number): void;
    finish(): unknown;
  };
}

/** gpu.js's shared WebGPU context: the `{ adapter, device }` pair every kernel of the process binds on. */
export interface WebgpuContext {
  readonly device: GpuDevice;
  readonly isLost: boolean;
}

// Usage and map flags are fixed by the WebGPU spec (the globals may be absent in a browser bundle's tests).
const STORAGE = 0x0080;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;

/** A window [offset, offset + length) of a device buffer, in float32 elements. */
export class DeviceArray {
  constructor(
    readonly handle: BufferHandle,
    readonly offset: number,
    readonly length: number,
  ) {}

  /** The window [begin, end) of this window (no copy: a device copy is made only when a kernel binds it). */
  subarray(begin: number, end: number = this.length): DeviceArray {
    if (begin === 0 && end === this.length) return this;
    return new DeviceArray(this.handle, this.offset + begin, end - begin);
  }
}

/** Host <-> device traffic and work issued by one backend (cumulative; `diff` them around a step). */
export interface TransferStats {
  /** Kernel launches (dispatches). */
  readonly launches: number;
  /** Host -> device writes and their bytes (uploads, host-array kernel arguments). */
  readonly uploads: number;
  readonly bytesUploaded: number;
  /** Device -> host reads and their bytes. */
  readonly readbacks: number;
  readonly bytesRead: number;
  /** Device-side buffer copies (windows, assembly of split outputs): no host traffic. */
  readonly deviceCopies: number;
}

/** Zeroed counters. */
export function emptyTransferStats(): TransferStats {
  return { launches: 0, uploads: 0, bytesUploaded: 0, readbacks: 0, bytesRead: 0, deviceCopies: 0 };
}

/** b - a, field by field. */
export function diffTransferStats(a: TransferStats, b: TransferStats): TransferStats {
  const out = emptyTransferStats() as Record<keyof TransferStats, number>;
  for (const k of Object.keys(out) as (keyof TransferStats)[]) out[k] = b[k] - a[k];
  return out;
}

/** Mutable counters shared by a backend and its device memory. */
export type Counters = { -readonly [K in keyof TransferStats]: number };

/** Host arrays at most this long (scalars, dummies) are uploaded once per value and shared. */
const SMALL_CONSTANT = 16;
/** Distinct small values kept on the device (oldest dropped first). */
const SMALL_CACHE = 1024;

type HandleCtor = new (s: {
  buffer: GpuBuffer;
  output: number[];
  context: WebgpuContext;
  kernel: null;
}) => BufferHandle;

/** Buffers of one backend on gpu.js's shared WebGPU device. */
export class DeviceMemory {
  private readonly small = new Map<string, DeviceArray>();
  private readonly Handle: HandleCtor;

  constructor(
    readonly name: string,
    readonly context: WebgpuContext,
    readonly counters: Counters,
  ) {
    this.Handle = (gpujs as unknown as { WebGPUBufferResult: HandleCtor }).WebGPUBufferResult;
  }

  private get device(): GpuDevice {
    if (this.context.isLost) throw new BackendError(`${this.name}: the WebGPU device was lost`);
    return this.context.device;
  }

  /** Throws BackendError naming the adapter limit a buffer of `elements` float32 would exceed. */
  checkSize(what: string, elements: number): void {
    const bytes = elements * 4;
    const { maxStorageBufferBindingSize: bind, maxBufferSize: max } = this.device.limits;
    if (bytes > max) {
      throw new BackendError(`${this.name} ${what}: ${bytes} bytes exceed the adapter's maxBufferSize (${max})`);
    }
    if (bytes > bind) {
      throw new BackendError(
        `${this.name} ${what}: ${bytes} bytes exceed the adapter's maxStorageBufferBindingSize (${bind})`,
      );
    }
  }

  /** A new zero-filled device buffer of `length` elements (WebGPU zero-initializes buffers). */
  zeros(length: number, what = 'alloc'): DeviceArray {
    this.checkSize(what, length);
    const buffer = this.device.createBuffer({ size: Math.max(4, length * 4), usage: STORAGE | COPY_SRC | COPY_DST });
    const handle = new this.Handle({ buffer, output: [Math.max(1, length)], context: this.context, kernel: null });
    return new DeviceArray(handle, 0, length);
  }

  /** Host -> device: one queue.writeBuffer of `data` into a new buffer (counted). */
  private write(data: Float32Array): DeviceArray {
    const a = this.zeros(data.length, 'upload');
    if (data.length > 0) {
      this.device.queue.writeBuffer(a.handle.buffer, 0, data);
      this.counters.uploads++;
      this.counters.bytesUploaded += data.byteLength;
    }
    return a;
  }

  /**
   * `data` on the device, one reference for the caller. Small arrays (scalars the engine broadcasts, dummies) are
   * written once per value and shared: no kernel writes into an existing buffer (outputs are always fresh), so a
   * shared buffer is never mutated.
   */
  upload(data: Float32Array): DeviceArray {
    if (data.length > SMALL_CONSTANT || data.length === 0) return this.write(data);
    const key = Array.from(data, (v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');
    let a = this.small.get(key);
    if (!a) {
      a = this.write(data);
      this.small.set(key, a);
      if (this.small.size > SMALL_CACHE) {
        const [oldKey, old] = this.small.entries().next().value as [string, DeviceArray];
        this.small.delete(oldKey);
        old.handle.delete();
      }
    }
    return this.retain(a);
  }

  /** A window as a buffer of its own starting at 0 (the array itself when it already is one). */
  materialize(a: DeviceArray): DeviceArray {
    if (a.offset === 0) return a;
    const out = this.zeros(a.length, 'window');
    this.copyInto(out, 0, a);
    return out;
  }

  /**
   * A new buffer of `total` elements: `base` copied first (else zeros), then each piece at its element offset
   * (later pieces win where they overlap). Device-side copies only.
   */
  assemble(total: number, base: DeviceArray | null, pieces: readonly { src: DeviceArray; at: number }[]): DeviceArray {
    const out = this.zeros(total, 'assemble');
    if (base) this.copyInto(out, 0, base);
    for (const p of pieces) this.copyInto(out, p.at, p.src);
    return out;
  }

  private copyInto(dst: DeviceArray, at: number, src: DeviceArray): void {
    if (src.length === 0) return;
    if (at < 0 || at + src.length > dst.length) {
      throw new BackendError(`${this.name}: device copy of ${src.length} at ${at} overruns ${dst.length}`);
    }
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src.handle.buffer, src.offset * 4, dst.handle.buffer, (dst.offset + at) * 4, src.length * 4);
    this.device.queue.submit([enc.finish()]);
    this.counters.deviceCopies++;
  }

  /** Device -> host: a staging copy mapped for reading (counted; the only readback path). */
  async read(a: DeviceArray): Promise<Float32Array> {
    if (a.handle._deleted) throw new BackendError(`${this.name} read: device buffer already released`);
    if (a.length === 0) return new Float32Array(0);
    const device = this.device;
    const bytes = a.length * 4;
    const staging = device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(a.handle.buffer, a.offset * 4, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    this.counters.readbacks++;
    this.counters.bytesRead += bytes;
    try {
      await staging.mapAsync(MAP_READ, 0, bytes);
      const out = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** One more reference to `a`'s buffer (a clone of its handle, same window). */
  retain(a: DeviceArray): DeviceArray {
    return new DeviceArray(a.handle.clone(), a.offset, a.length);
  }

  /** Drop one reference; the buffer is destroyed when none is left (submitted work that reads it still runs). */
  release(a: DeviceArray): void {
    a.handle.delete();
  }

  /** Release the cached small constants (backend dispose). */
  dispose(): void {
    for (const a of this.small.values()) a.handle.delete();
    this.small.clear();
  }
}
