/**
 * The `Dataset` contract and the in-memory datasets. Every dataset can describe itself with a structured-clonable
 * `SourceDescriptor` (plain objects, strings, typed arrays; pixel arrays live in SharedArrayBuffers so workers
 * share them without copies) from which `openDataset` (open.ts) rebuilds an equivalent dataset in a worker
 * thread, so member i decodes identically anywhere. Invariants: `get(i)` is synchronous and pure in i;
 * `label(i)` never decodes; labels are in [0, numClasses); returned pixel buffers must be treated as read-only.
 */
import { DataError, IndexError } from '../errors.js';
import { type RawImage, type Sample, toRgb } from './image.js';

/** Descriptor of an image-folder dataset (directory or tar), including its member list. */
export interface ImageFolderDescriptor {
  kind: 'image-folder';
  /** directory root, or path of the tar archive */
  root: string;
  tar: boolean;
  /** member path prefix inside the tar (e.g. 'train/'), '' for directories */
  prefix: string;
  classes: string[];
  /** relative file paths (directory) or full member names (tar) */
  names: string[];
  labels: Int32Array;
  /** tar only: data offset and size of each member */
  offsets?: Float64Array;
  sizes?: Float64Array;
}

/** Descriptor of an in-memory dataset of equally sized images (N x H x W x C uint8). */
export interface ArrayDescriptor {
  kind: 'array';
  pixels: Uint8Array;
  labels: Int32Array;
  height: number;
  width: number;
  channels: number;
  classes: string[];
  /** replicate 1-channel images to RGB in `get` */
  toRgb: boolean;
  /** source name for messages */
  source: string;
}

/** Descriptor of a subset (index list) of another dataset. */
export interface SubsetDescriptor {
  kind: 'subset';
  base: SourceDescriptor;
  indices: Int32Array;
}

/** Structured-clonable description from which a worker reopens a dataset. */
export type SourceDescriptor = ImageFolderDescriptor | ArrayDescriptor | SubsetDescriptor;

/** A labelled image dataset. */
export interface Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly classes: string[];
  /** Decodes member i (HWC image, RGB for the built-in datasets). @throws IndexError, DataError */
  get(i: number): Sample;
  /** Label of member i without decoding. */
  label(i: number): number;
  /** All labels, in index order. */
  labels(): Int32Array;
  /** Serializable descriptor for reopening this dataset in a worker. */
  descriptor(): SourceDescriptor;
  /** Releases file descriptors (idempotent). */
  close?(): void;
}

/** Throws IndexError unless 0 <= i < n. */
export function checkIndex(i: number, n: number, what: string): void {
  if (!Number.isInteger(i) || i < 0 || i >= n) {
    throw new IndexError(`${what}: index ${i} out of range [0, ${n})`);
  }
}

/** A Uint8Array backed by a SharedArrayBuffer (falls back to a plain buffer where SAB is unavailable). */
export function sharedBytes(n: number): Uint8Array {
  return typeof SharedArrayBuffer === 'function' ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
}

/** In-memory dataset over one packed N x H x W x C uint8 buffer (CIFAR binary, MNIST IDX, synthetic data). */
export class ArrayDataset implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly classes: string[];
  private readonly d: ArrayDescriptor;
  private readonly stride: number;

  /** @throws DataError when buffer sizes or labels disagree */
  constructor(d: Omit<ArrayDescriptor, 'kind'>) {
    this.d = { kind: 'array', ...d };
    this.stride = d.height * d.width * d.channels;
    this.length = d.labels.length;
    this.classes = d.classes;
    this.numClasses = d.classes.length;
    if (d.pixels.length !== this.length * this.stride) {
      throw new DataError(
        `${d.source}: pixel buffer has ${d.pixels.length} bytes, expected ${this.length} x ${d.height}x${d.width}x${d.channels}`,
      );
    }
    for (let i = 0; i < this.length; i++) {
      const l = d.labels[i]!;
      if (l < 0 || l >= this.numClasses) {
        throw new DataError(`${d.source}: label ${l} of sample ${i} is outside [0, ${this.numClasses})`);
      }
    }
  }

  get(i: number): Sample {
    checkIndex(i, this.length, this.d.source);
    const { height, width, channels } = this.d;
    const data = this.d.pixels.subarray(i * this.stride, (i + 1) * this.stride);
    let image: RawImage = { data, height, width, channels };
    if (this.d.toRgb) image = toRgb(image, `${this.d.source}[${i}]`);
    return { image, label: this.d.labels[i]! };
  }

  label(i: number): number {
    checkIndex(i, this.length, this.d.source);
    return this.d.labels[i]!;
  }

  labels(): Int32Array {
    return this.d.labels.slice();
  }

  descriptor(): ArrayDescriptor {
    return this.d;
  }
}

/** A view of `base` restricted to `indices` (train/val splits, few-shot subsets); labels are unchanged. */
export class Subset implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly classes: string[];

  constructor(
    readonly base: Dataset,
    readonly indices: Int32Array,
  ) {
    for (const i of indices) checkIndex(i, base.length, 'Subset index');
    this.length = indices.length;
    this.numClasses = base.numClasses;
    this.classes = base.classes;
  }

  get(i: number): Sample {
    checkIndex(i, this.length, 'Subset');
    return this.base.get(this.indices[i]!);
  }

  label(i: number): number {
    checkIndex(i, this.length, 'Subset');
    return this.base.label(this.indices[i]!);
  }

  labels(): Int32Array {
    const all = this.base.labels();
    return this.indices.map((i) => all[i]!);
  }

  descriptor(): SubsetDescriptor {
    return { kind: 'subset', base: this.base.descriptor(), indices: this.indices };
  }

  close(): void {
    this.base.close?.();
  }
}
