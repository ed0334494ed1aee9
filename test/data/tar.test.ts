/**
 * Tar reader: member list and contents agree with the system `tar` for GNU (long names 'L'), pax ('x' headers)
 * and ustar (prefix field) archives, including empty and block-sized files (property test over random trees);
 * agrees with `tar tf` on the shared CIFAR-10 tar; corrupt headers are DataErrors naming the offset.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { indexTar, TarFile } from '../../src/data/tar.js';
import { DataError } from '../../src/errors.js';
import { CIFAR_TAR, haveFile, haveTar, makeTar, tarList, tmpDir } from './helpers.js';

const TAR = haveTar();

function writeTree(root: string, files: { name: string; size: number; seed: number }[]): void {
  for (const f of files) {
    const p = path.join(root, f.name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(
      p,
      Uint8Array.from({ length: f.size }, (_, i) => (f.seed + i * 31) & 255),
    );
  }
}

describe.skipIf(!TAR)('tar reader vs system tar', () => {
  const long = `${'a'.repeat(60)}/${'b'.repeat(70)}/c-${'d'.repeat(40)}.bin`;
  const files = [
    { name: 'top/empty.txt', size: 0, seed: 1 },
    { name: 'top/block.bin', size: 512, seed: 2 },
    { name: 'top/over.bin', size: 513, seed: 3 },
    { name: `top/${long}`, size: 1000, seed: 4 },
    { name: 'top/sub dir/spaced name.jpg', size: 7, seed: 5 },
  ];

  it.each(['gnu', 'pax', 'ustar'] as const)('%s format: names match `tar tf`, contents match the files', (format) => {
    const dir = tmpDir(`tar-${format}`);
    writeTree(dir, files);
    const out = path.join(dir, `a-${format}.tar`);
    makeTar(out, dir, ['top'], format);
    const t = TarFile.open(out);
    try {
      expect(t.entries.map((e) => e.name)).toEqual(tarList(out));
      for (const f of files) {
        const e = t.entries.find((x) => x.name === f.name)!;
        expect(e.type).toBe('0');
        expect(e.offset % 512).toBe(0);
        expect(Buffer.from(t.read(e)).equals(fs.readFileSync(path.join(dir, f.name)))).toBe(true);
      }
      expect(t.entries.find((x) => x.name === 'top/')!.type).toBe('5');
    } finally {
      t.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agrees with `tar tf` on random trees (property)', () => {
    const seg = fc.stringMatching(/^[a-z0-9_-]{1,40}$/);
    const fileArb = fc.record({
      parts: fc.array(seg, { minLength: 1, maxLength: 5 }),
      size: fc.oneof(fc.integer({ min: 0, max: 1100 }), fc.constantFrom(0, 511, 512, 513, 1024)),
      seed: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(
        fc.array(fileArb, { minLength: 1, maxLength: 6 }),
        fc.constantFrom('gnu', 'pax', 'ustar'),
        (fs0, fmt) => {
          const dir = tmpDir('tarprop');
          try {
            // make names unique and avoid file/dir clashes by suffixing the leaf with its position
            const tree = fs0.map((f, i) => ({ name: `r/${f.parts.join('/')}.${i}`, size: f.size, seed: f.seed }));
            if (fmt === 'ustar' && tree.some((f) => f.name.length > 250)) return true;
            writeTree(dir, tree);
            const out = path.join(dir, 'p.tar');
            makeTar(out, dir, ['r'], fmt as 'gnu');
            const entries = indexTar(out);
            if (JSON.stringify(entries.map((e) => e.name)) !== JSON.stringify(tarList(out))) return false;
            const t = TarFile.reopen(out);
            try {
              return tree.every((f) => {
                const e = entries.find((x) => x.name === f.name);
                return e !== undefined && Buffer.from(t.read(e)).equals(fs.readFileSync(path.join(dir, f.name)));
              });
            } finally {
              t.close();
            }
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('corrupt header checksum and missing files are DataErrors naming the problem', () => {
    const dir = tmpDir('tarbad');
    try {
      writeTree(dir, [{ name: 'x/y.bin', size: 10, seed: 0 }]);
      const out = path.join(dir, 'bad.tar');
      makeTar(out, dir, ['x']);
      const b = fs.readFileSync(out);
      b[600] ^= 0xff; // inside the second header's name field
      fs.writeFileSync(out, b);
      expect(() => indexTar(out)).toThrow(/header at byte 512: checksum/);
      expect(() => indexTar(path.join(dir, 'nope.tar'))).toThrow(DataError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!TAR || !haveFile(CIFAR_TAR, 'CIFAR-10 tar listing test'))(
  'tar reader on the shared CIFAR-10 tar',
  () => {
    it('lists exactly what `tar tf` lists, and members are JPEGs', () => {
      const t = TarFile.open(CIFAR_TAR);
      try {
        const names = t.entries.map((e) => e.name);
        expect(names).toEqual(tarList(CIFAR_TAR));
        expect(t.entries.filter((e) => e.type === '0').length).toBe(50000);
        const first = t.entries.find((e) => e.name === 'train/airplane/0000.jpg')!;
        const bytes = t.read(first);
        expect([bytes[0], bytes[1], bytes[2]]).toEqual([0xff, 0xd8, 0xff]);
      } finally {
        t.close();
      }
    });
  },
);

/** A one-member ustar archive built by hand (tar itself refuses or rewrites unsafe names). */
function rawTar(name: string, data: Uint8Array): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number) => h.set(new TextEncoder().encode(s), off);
  put(name, 0);
  put('0000644\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put('0', 156);
  put('ustar\0', 257);
  put('00', 263);
  const sum = h.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = new Uint8Array(Math.ceil(data.length / 512) * 512);
  body.set(data);
  const out = new Uint8Array(512 + body.length + 1024);
  out.set(h);
  out.set(body, 512);
  return out;
}

describe('unsafe member names (issue 15 case 9)', () => {
  it("'..' and '.' components and absolute paths are DataErrors naming the member; './x' is fine", () => {
    const dir = tmpDir('tar-unsafe');
    const f = path.join(dir, 'a.tar');
    for (const [name, frag] of [
      ['train/../x/1.png', "member name 'train/../x/1.png' has a '..' path component"],
      ['train/./x/1.png', "has a '.' path component"],
      ['/etc/x/1.png', 'is an absolute path'],
    ] as const) {
      fs.writeFileSync(f, rawTar(name, Uint8Array.of(1, 2, 3)));
      expect(() => indexTar(f), name).toThrow(DataError);
      expect(() => indexTar(f), name).toThrow(frag);
    }
    fs.writeFileSync(f, rawTar('./train/x/1.png', Uint8Array.of(1, 2, 3)));
    expect(indexTar(f).map((e) => e.name)).toEqual(['./train/x/1.png']);
  });
});
