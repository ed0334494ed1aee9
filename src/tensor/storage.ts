/**
 * Storage: a backend buffer shared by every view of it, with a reference count and a version counter.
 * The version counter increases on every in-place write; autograd compares it with the version saved at
 * forward time to refuse a backward through data that was overwritten since.
 */

import { BackendError } from '../errors.js';
import type { Backend, BackendBuffer } from './backend.js';

export class Storage {
  refs = 0;
  version = 0;
  constructor(
    readonly backend: Backend,
    public buf: BackendBuffer,
  ) {}

  retain(): void {
    if (this.refs < 0) throw new BackendError('new view of a disposed tensor (its storage was already released)');
    this.refs++;
  }

  release(): void {
    this.refs--;
    if (this.refs === 0) {
      this.backend.free(this.buf);
      this.refs = -1;
    }
  }

  get released(): boolean {
    return this.refs < 0;
  }
}
