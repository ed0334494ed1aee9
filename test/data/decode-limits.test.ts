// Issue 23 cases 5 and 6: CMYK and YCCK JPEGs decode (they threw "Unsupported color conversion request") to
// PIL's convert('RGB') bytes (TOL: 0 levels; 4:4:4, 4:2:2, 4:2:0, odd sizes, a 3x5 and a progressive file;
// fixtures: scripts/gen-cmyk-fixtures.py, Debian's Pillow 9.4 on libjpeg-turbo);
// every decoder is held to a pixel cap read from the header before anything is decoded (a 20000x20000 PNG of
// a few hundred KB took 3.66 GB and 39 s in `infer`), a DataError naming the size and the cap.
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_IMAGE_PIXELS,
  decodeImage,
  maxImagePixels,
  readImageHeader,
  setMaxImagePixels,
} from '../../src/data/index.js';
import { ConfigError, DataError } from '../../src/errors.js';
import { TOL } from '../tolerances.js';

const FIX = path.join(import.meta.dirname, '../fixtures/jpeg');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected-cmyk.json'), 'utf8')) as {
  fixtures: { file: string; width: number; height: number; rgb_base64: string }[];
};

describe('CMYK / YCCK JPEGs decode as PIL does (case 5)', () => {
  for (const f of expected.fixtures) {
    it(f.file, () => {
      const bytes = fs.readFileSync(path.join(FIX, f.file));
      expect(readImageHeader(bytes)).toEqual({ format: 'jpeg', width: f.width, height: f.height, components: 4 });
      const img = decodeImage(bytes, f.file);
      expect([img.height, img.width, img.channels]).toEqual([f.height, f.width, 3]);
      const want = Buffer.from(f.rgb_base64, 'base64');
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(img.data[i]! - want[i]!));
      const tol = f.file.startsWith('ycck') ? TOL.jpegYcckLevels : TOL.jpegCmykLevels;
      expect(worst, `${f.file}: max |ours - PIL|`).toBeLessThanOrEqual(tol);
    });
  }

  it('CMYK and its YCCK twin give different pixels (the transform flag is honoured)', () => {
    const a = decodeImage(fs.readFileSync(path.join(FIX, 'cmyk-q90-23x17.jpg')), 'a');
    const b = decodeImage(fs.readFileSync(path.join(FIX, 'ycck-q90-23x17.jpg')), 'b');
    expect(Buffer.from(a.data as Uint8Array).equals(Buffer.from(b.data as Uint8Array))).toBe(false);
  });
});

/** A valid PNG header + one IDAT that declares w x h but holds almost nothing (what a decompression bomb is). */
function hugePng(w: number, h: number): Uint8Array {
  const small = PNG.sync.write(Object.assign(new PNG({ width: 1, height: 1 }), { data: Buffer.alloc(4, 255) }));
  const b = Buffer.from(small);
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  // the IHDR CRC is now wrong, which pngjs would report, but the cap must refuse the file before any decoder runs
  return b;
}

describe('pixel cap on every image decoder (case 6)', () => {
  afterEach(() => setMaxImagePixels(DEFAULT_MAX_IMAGE_PIXELS));

  it('a 20000x20000 PNG is a DataError naming size and cap, before decoding', () => {
    expect(maxImagePixels()).toBe(64_000_000);
    const t0 = process.memoryUsage().rss;
    expect(() => decodeImage(hugePng(20000, 20000), 'bomb.png')).toThrow(DataError);
    expect(() => decodeImage(hugePng(20000, 20000), 'bomb.png')).toThrow(
      /bomb\.png: png image of 20000x20000 = 400\.0 Mpixel is over the 64\.0 Mpixel cap .*BIT_MAX_IMAGE_PIXELS/,
    );
    expect(process.memoryUsage().rss - t0).toBeLessThan(200e6);
  });

  it('JPEG too (the SOF header), and the cap is configurable', () => {
    const jpg = fs.readFileSync(path.join(FIX, 'q75-420-32x32.jpg'));
    expect(decodeImage(jpg, 'ok.jpg').width).toBe(32);
    setMaxImagePixels(32 * 32 - 1);
    expect(() => decodeImage(jpg, 'small-cap.jpg')).toThrow(/small-cap\.jpg: jpeg image of 32x32 .* over the/);
    setMaxImagePixels(32 * 32);
    expect(decodeImage(jpg, 'ok.jpg').height).toBe(32);
    expect(() => setMaxImagePixels(0)).toThrow(ConfigError);
  });
});

describe('fuzz: mutated headers never get past the cap or throw anything but DataError', () => {
  afterEach(() => setMaxImagePixels(DEFAULT_MAX_IMAGE_PIXELS));
  const files = [
    fs.readFileSync(path.join(FIX, 'q75-420-32x32.jpg')),
    fs.readFileSync(path.join(FIX, 'cmyk-q90-23x17.jpg')),
    fs.readFileSync(path.join(FIX, 'ycck-420-q85-37x27.jpg')),
    Buffer.from(hugePng(8, 8)),
  ];
  it('random byte edits in the first 300 bytes', () => {
    setMaxImagePixels(4096);
    fc.assert(
      fc.property(
        fc.constantFrom(...files),
        fc.array(fc.tuple(fc.nat(299), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (file, edits) => {
          const b = Uint8Array.from(file);
          for (const [i, v] of edits) if (i < b.length) b[i] = v;
          expect(() => readImageHeader(b)).not.toThrow();
          try {
            const img = decodeImage(b, 'fuzz');
            expect(img.width * img.height).toBeLessThanOrEqual(4096);
          } catch (e) {
            expect(e).toBeInstanceOf(DataError);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
