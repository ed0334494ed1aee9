/**
 * Rebuilds a dataset from its `SourceDescriptor` (the inverse of `Dataset.descriptor()`), used by loader workers
 * to reopen the parent's dataset without re-scanning: image folders reuse the member list (tars are reopened by
 * path, not re-indexed), arrays share their SharedArrayBuffer pixels, subsets recurse. Invariant:
 * `openDataset(ds.descriptor()).get(i)` equals `ds.get(i)` for every i.
 */
import { ConfigError } from '../errors.js';
import { ArrayDataset, type Dataset, type SourceDescriptor, Subset } from './dataset.js';
import { ImageFolder } from './image-folder.js';

/** Opens the dataset a descriptor describes. @throws ConfigError for an unknown descriptor kind */
export function openDataset(d: SourceDescriptor): Dataset {
  switch (d.kind) {
    case 'image-folder':
      return ImageFolder.fromDescriptor(d);
    case 'array': {
      const { kind: _kind, ...rest } = d;
      return new ArrayDataset(rest);
    }
    case 'subset':
      return new Subset(openDataset(d.base), d.indices);
    default:
      throw new ConfigError(`openDataset: unknown descriptor kind '${(d as { kind: string }).kind}'`);
  }
}
