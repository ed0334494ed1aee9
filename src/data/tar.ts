/**
 * In-place reader for uncompressed POSIX tar files (ustar, GNU and pax flavours). `indexTar` walks the 512-byte
 * headers with positioned reads on a file descriptor (never loading the archive), handling the ustar `prefix`
 * field, GNU long names ('L'), pax extended headers ('x' path/size; 'g' global ones are skipped) and base-256
 * sizes; `TarFile.read` then fetches one member by offset with fs.readSync. Invariants: entries are listed in
 * archive order with the names `tar tf` prints; data offsets are 512-aligned; header checksums are verified;
 * a member name that is absolute or has a '.' / '..' component is a DataError (never a class named '..').
 */
import * as fs from 'node:fs';
import { DataError } from '../errors.js';

/** One archive member. */
export interface TarEntry {
  name: string;
  /** byte offset of the member's data in the archive */
  offset: number;
  size: number;
  /** ustar type flag: '0' file, '5' directory, '2' symlink, ... */
  type: string;
}

const BLOCK = 512;
/** Largest header read-ahead; the actual one adapts to recent member sizes (about 16 members). */
const CHUNK = 1 << 16;

function cstr(b: Uint8Array, start: number, len: number): string {
  let end = start;
  let ascii = true;
  while (end < start + len && b[end] !== 0) {
    if (b[end]! > 127) ascii = false;
    end++;
  }
  if (ascii) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
}

function parseNumber(b: Uint8Array, start: number, len: number, what: string): number {
  if (b[start]! & 0x80) {
    // GNU base-256: big-endian, high bit of first byte is the marker.
    let v = b[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstr(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new DataError(`${what}: expected an octal number, got '${s}'`);
  return Number.parseInt(s, 8);
}

function parsePax(data: Uint8Array, what: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < text.length) {
    const sp = text.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = Number.parseInt(text.toString('latin1', pos, sp), 10);
    if (!(len > 0) || pos + len > text.length) throw new DataError(`${what}: malformed pax record at byte ${pos}`);
    const rec = text.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** An open tar archive: its index plus an fd for member reads. Call `close()` when done. */
export class TarFile {
  readonly entries: TarEntry[];
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    entries: TarEntry[],
  ) {
    this.fd = fd;
    this.entries = entries;
  }

  /** Opens and indexes `path`. @throws DataError when the file is missing or not a valid tar */
  static open(path: string): TarFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new DataError(`${path}: cannot open tar archive: ${(e as Error).message}`);
    }
    try {
      return new TarFile(path, fd, indexFd(fd, path));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Reopens an archive whose index is already known (e.g. in a worker), skipping the header walk. */
  static reopen(path: string, entries: TarEntry[] = []): TarFile {
    try {
      return new TarFile(path, fs.openSync(path, 'r'), entries);
    } catch (e) {
      throw new DataError(`${path}: cannot open tar archive: ${(e as Error).message}`);
    }
  }

  /** Reads `size` bytes at `offset` (a member's data). */
  readAt(offset: number, size: number, name = `offset ${offset}`): Uint8Array {
    if (this.fd === null) throw new DataError(`${this.path}: archive is closed (reading member ${name})`);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(this.fd, buf, got, size - got, offset + got);
      if (n === 0) throw new DataError(`${this.path}: member ${name} is truncated (wanted ${size} bytes at ${offset})`);
      got += n;
    }
    return buf;
  }

  /** Reads one member's bytes. */
  read(entry: TarEntry): Uint8Array {
    return this.readAt(entry.offset, entry.size, entry.name);
  }

  /** Closes the file descriptor (idempotent). */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Lists the members of a tar archive without extracting it.
 * @returns entries in archive order, names as `tar tf` prints them
 */
export function indexTar(path: string): TarEntry[] {
  const t = TarFile.open(path);
  t.close();
  return t.entries;
}

function indexFd(fd: number, path: string): TarEntry[] {
  const fileSize = fs.fstatSync(fd).size;
  const entries: TarEntry[] = [];
  const buf = new Uint8Array(CHUNK);
  let bufStart = -1;
  let bufLen = 0;
  let lastSize = 0;
  // Returns a 512-byte view of the header at `pos`, refilling the read-ahead buffer when needed.
  const header = (pos: number): Uint8Array | null => {
    if (pos + BLOCK > fileSize) return null;
    if (bufStart < 0 || pos < bufStart || pos + BLOCK > bufStart + bufLen) {
      const want = Math.min(CHUNK, Math.max(4096, 16 * (lastSize + BLOCK)));
      bufLen = fs.readSync(fd, buf, 0, Math.min(want, fileSize - pos), pos);
      bufStart = pos;
    }
    return buf.subarray(pos - bufStart, pos - bufStart + BLOCK);
  };
  const readData = (pos: number, size: number): Uint8Array => {
    const out = new Uint8Array(size);
    if (size > 0 && fs.readSync(fd, out, 0, size, pos) !== size) {
      throw new DataError(`${path}: truncated extended header at ${pos}`);
    }
    return out;
  };
  let pos = 0;
  let longName: string | null = null;
  let pax: Map<string, string> | null = null;
  for (;;) {
    const h = header(pos);
    if (h === null) break;
    if (h[0] === 0 && h.every((v) => v === 0)) break;
    const what = `${path}: tar header at byte ${pos}`;
    let sum = 8 * 32;
    for (let i = 0; i < 148; i++) sum += h[i]!;
    for (let i = 156; i < BLOCK; i++) sum += h[i]!;
    const stored = parseNumber(h, 148, 8, what);
    if (stored !== sum) throw new DataError(`${what}: checksum ${stored} does not match computed ${sum}`);
    let size = parseNumber(h, 124, 12, what);
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
    const dataPos = pos + BLOCK;
    if (pax?.has('size')) size = Number(pax.get('size'));
    if (dataPos + size > fileSize) {
      throw new DataError(`${what}: member of ${size} bytes runs past the end of the ${fileSize}-byte file`);
    }
    const next = dataPos + Math.ceil(size / BLOCK) * BLOCK;
    lastSize = size;
    if (type === 'L') {
      const d = readData(dataPos, size);
      longName = cstr(d, 0, d.length);
    } else if (type === 'x') {
      pax = parsePax(readData(dataPos, size), what);
    } else if (type === 'g' || type === 'K') {
      // Global pax defaults and GNU long link names do not change member names or sizes here.
    } else {
      let name = cstr(h, 0, 100);
      const magic = cstr(h, 257, 6);
      if (magic.startsWith('ustar')) {
        const prefix = cstr(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== null) name = longName;
      if (pax?.has('path')) name = pax.get('path')!;
      checkMemberName(name, what);
      entries.push({ name, offset: dataPos, size, type });
      longName = null;
      pax = null;
    }
    pos = next;
  }
  return entries;
}

/**
 * Reject member names that could escape the archive's tree or alias another member: absolute paths and
 * '.' / '..' components (a single leading './', as `tar -C dir .` writes, is allowed).
 * @throws DataError naming the member.
 */
function checkMemberName(name: string, what: string): void {
  if (name === '.' || name === './') return;
  if (name.startsWith('/'))
    throw new DataError(`${what}: member name '${name}' is an absolute path (unsafe; rejected)`);
  const parts = (name.startsWith('./') ? name.slice(2) : name).replace(/\/$/, '').split('/');
  const bad = parts.find((p) => p === '..' || p === '.' || p === '');
  if (bad !== undefined) {
    throw new DataError(
      `${what}: member name '${name}' has a '${bad === '' ? '//' : bad}' path component (unsafe; rejected)`,
    );
  }
}
