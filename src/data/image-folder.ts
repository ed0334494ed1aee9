/**
 * `ImageFolder`: the torchvision layout root/<class>/<...>/<image> read from a directory or, in place, from an
 * uncompressed tar (with a member prefix such as 'train/'). Classes are the sorted first-level folder names and
 * label = class position; samples are ordered by (label, path). JPEG and PNG decode to RGB. Invariants: a class
 * folder without images is a DataError at construction; decode failures name the file or tar member.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DataError } from '../errors.js';
import { checkIndex, type Dataset, type ImageFolderDescriptor } from './dataset.js';
import { decodeImage, type Sample } from './image.js';
import { TarFile } from './tar.js';

/** File extensions ImageFolder accepts (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'] as const;

function isImage(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return (IMAGE_EXTENSIONS as readonly string[]).includes(ext);
}

/** Options of `ImageFolder.open`. */
export interface ImageFolderOptions {
  /** member prefix inside a tar, e.g. 'train/' (default ''); ignored for directories */
  prefix?: string;
}

function byCode(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function walk(dir: string, rel: string, out: string[]): void {
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) walk(dir, r, out);
    else if (isImage(ent.name)) out.push(r);
  }
}

/** Builds a descriptor from (class, relative name) pairs; throws DataError on an empty class. */
function build(
  root: string,
  tar: boolean,
  prefix: string,
  classes: string[],
  files: Map<string, { name: string; offset?: number; size?: number }[]>,
): ImageFolderDescriptor {
  const names: string[] = [];
  const labels: number[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  classes.forEach((c, label) => {
    const list = files.get(c) ?? [];
    if (list.length === 0) {
      throw new DataError(`${root}: class folder '${prefix}${c}' contains no ${IMAGE_EXTENSIONS.join('/')} images`);
    }
    list.sort((a, b) => byCode(a.name, b.name));
    for (const f of list) {
      names.push(f.name);
      labels.push(label);
      if (tar) {
        offsets.push(f.offset!);
        sizes.push(f.size!);
      }
    }
  });
  const d: ImageFolderDescriptor = {
    kind: 'image-folder',
    root,
    tar,
    prefix,
    classes,
    names,
    labels: Int32Array.from(labels),
  };
  if (tar) {
    d.offsets = Float64Array.from(offsets);
    d.sizes = Float64Array.from(sizes);
  }
  return d;
}

function scanDirectory(root: string): ImageFolderDescriptor {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch {
    throw new DataError(`${root}: ImageFolder root does not exist`);
  }
  if (!st.isDirectory()) throw new DataError(`${root}: ImageFolder root is not a directory or .tar file`);
  const classes = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort(byCode);
  if (classes.length === 0) throw new DataError(`${root}: no class folders found (expected root/<class>/<image>)`);
  const files = new Map<string, { name: string }[]>();
  for (const c of classes) {
    const list: string[] = [];
    walk(root, c, list);
    files.set(
      c,
      list.map((name) => ({ name })),
    );
  }
  return build(root, false, '', classes, files);
}

function scanTar(tar: TarFile, prefix: string): ImageFolderDescriptor {
  const classSet = new Set<string>();
  const files = new Map<string, { name: string; offset: number; size: number }[]>();
  for (const e of tar.entries) {
    const name = e.name.startsWith('./') ? e.name.slice(2) : e.name;
    if (!name.startsWith(prefix)) continue;
    const rel = name.slice(prefix.length);
    const slash = rel.indexOf('/');
    if (slash <= 0) continue;
    const cls = rel.slice(0, slash);
    if (e.type === '5') {
      classSet.add(cls);
      continue;
    }
    if ((e.type !== '0' && e.type !== '7') || !isImage(rel)) continue;
    classSet.add(cls);
    let list = files.get(cls);
    if (!list) files.set(cls, (list = []));
    list.push({ name: e.name, offset: e.offset, size: e.size });
  }
  const classes = [...classSet].sort(byCode);
  if (classes.length === 0) {
    throw new DataError(
      `${tar.path}: no class folders under prefix '${prefix}' (expected ${prefix}<class>/<image>)${topLevelHint(tar, prefix)}`,
    );
  }
  return build(tar.path, true, prefix, classes, files);
}

/**
 * When a tar holds `<class>/<image>` at its top level (no split folder), say so: the classes are there, and
 * `--train_split .` (prefix '') reads them.
 */
function topLevelHint(tar: TarFile, prefix: string): string {
  if (!prefix) return '';
  const top = new Set<string>();
  for (const e of tar.entries) {
    const name = e.name.startsWith('./') ? e.name.slice(2) : e.name;
    const parts = name.split('/');
    if (parts.length === 2 && parts[0] && (e.type === '0' || e.type === '7') && isImage(parts[1]!)) top.add(parts[0]);
  }
  if (top.size === 0) return '';
  const names = [...top].sort(byCode);
  const shown = `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ... (${names.length})` : ''}`;
  return (
    `; its top level holds image folders (${shown}): if those are the classes, read them with --train_split . ` +
    `(and a fraction as --val_split, e.g. 0.1)`
  );
}

/** root/<class>/<image> dataset over a directory or an uncompressed tar archive. */
export class ImageFolder implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly classes: string[];
  private tarFile: TarFile | null = null;

  private constructor(private readonly d: ImageFolderDescriptor) {
    this.length = d.names.length;
    this.classes = d.classes;
    this.numClasses = d.classes.length;
  }

  /**
   * Opens a directory (root/<class>/<image>) or a `.tar` file (members `<prefix><class>/<image>`).
   * @throws DataError for a missing root, no classes, or an empty class; ConfigError for a bad prefix
   */
  static open(root: string, opts: ImageFolderOptions = {}): ImageFolder {
    let prefix = opts.prefix ?? '';
    if (prefix.startsWith('/')) throw new ConfigError(`ImageFolder prefix must be relative, got '${prefix}'`);
    if (prefix.startsWith('./')) prefix = prefix.slice(2);
    if (prefix && !prefix.endsWith('/')) prefix += '/';
    let isTar = false;
    try {
      isTar = fs.statSync(root).isFile();
    } catch {
      throw new DataError(`${root}: ImageFolder root does not exist`);
    }
    if (!isTar) return new ImageFolder(scanDirectory(root));
    const tar = TarFile.open(root);
    try {
      const ds = new ImageFolder(scanTar(tar, prefix));
      ds.tarFile = tar;
      return ds;
    } catch (e) {
      tar.close();
      throw e;
    }
  }

  /** Rebuilds from a descriptor (worker side); the tar is reopened lazily without re-indexing. */
  static fromDescriptor(d: ImageFolderDescriptor): ImageFolder {
    return new ImageFolder(d);
  }

  /** Raw encoded bytes of member i. */
  bytes(i: number): Uint8Array {
    checkIndex(i, this.length, this.d.root);
    const d = this.d;
    if (!d.tar) {
      const file = path.join(d.root, d.names[i]!);
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new DataError(`${file}: cannot read image file: ${(e as Error).message}`);
      }
    }
    if (!this.tarFile) this.tarFile = TarFile.reopen(d.root);
    return this.tarFile.readAt(d.offsets![i]!, d.sizes![i]!, d.names[i]!);
  }

  get(i: number): Sample {
    const bytes = this.bytes(i);
    const d = this.d;
    const where = d.tar ? `${d.root}: member ${d.names[i]}` : path.join(d.root, d.names[i]!);
    return { image: decodeImage(bytes, where), label: d.labels[i]! };
  }

  label(i: number): number {
    checkIndex(i, this.length, this.d.root);
    return this.d.labels[i]!;
  }

  labels(): Int32Array {
    return this.d.labels.slice();
  }

  /** Name of member i (relative path, or tar member name). */
  name(i: number): string {
    checkIndex(i, this.length, this.d.root);
    return this.d.names[i]!;
  }

  descriptor(): ImageFolderDescriptor {
    return this.d;
  }

  close(): void {
    this.tarFile?.close();
    this.tarFile = null;
  }
}
