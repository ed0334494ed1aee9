// Issue 15 case 10: JPEG pixels equal PIL's (libjpeg-turbo), bit for bit: files PIL encoded in the layouts
// decoders disagree on (4:2:0 / 4:2:2 / 4:4:4, progressive, optimized, grayscale, odd sizes), and the first
// members of the shared data tars (by SHA-256 of PIL's RGB; skipped where the tars are absent). Fixtures:
// scripts/gen-jpeg-fixtures.py (Pillow 9.4 on libjpeg-turbo 2.1.5). Also: corrupt and truncated files are
// DataErrors with libjpeg's reason, and jpeg-js (the previous decoder) does differ on these files.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/data/index.js';
import { TarFile } from '../../src/data/tar.js';
import { DataError } from '../../src/errors.js';

const FIX = path.join(import.meta.dirname, '../fixtures/jpeg');
const SHARED = path.join(import.meta.dirname, '../../../shared/data');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')) as {
  fixtures: { file: string; width: number; height: number; rgb_base64: string }[];
  shared: Record<string, { member: string; width: number; height: number; sha256: string }[]>;
};

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('JPEG decoding equals PIL / libjpeg-turbo (case 10)', () => {
  for (const f of expected.fixtures) {
    it(f.file, () => {
      const img = decodeImage(fs.readFileSync(path.join(FIX, f.file)), f.file);
      const want = Buffer.from(f.rgb_base64, 'base64');
      expect([img.height, img.width, img.channels]).toEqual([f.height, f.width, 3]);
      expect(maxDiff(img.data as Uint8Array, want), `${f.file}: max |ours - PIL|`).toBe(0);
    });
  }

  it('jpeg-js (the previous decoder) differs from PIL on the 4:2:0 fixtures (the test can fail)', () => {
    let differ = 0;
    for (const f of expected.fixtures.filter((x) => x.file.includes('420'))) {
      const d = jpeg.decode(fs.readFileSync(path.join(FIX, f.file)), { useTArray: true, formatAsRGBA: false });
      if (maxDiff(d.data, Buffer.from(f.rgb_base64, 'base64')) > 0) differ++;
    }
    expect(differ).toBeGreaterThan(0);
  });

  for (const [tarName, rows] of Object.entries(expected.shared)) {
    const file = path.join(SHARED, tarName);
    it.skipIf(!fs.existsSync(file))(`${tarName}: first ${rows.length} members identical to PIL`, () => {
      const tar = TarFile.open(file);
      try {
        const byName = new Map(tar.entries.map((e) => [e.name, e]));
        for (const r of rows) {
          const e = byName.get(r.member);
          expect(e, r.member).toBeDefined();
          const img = decodeImage(tar.read(e!), r.member);
          expect([img.width, img.height]).toEqual([r.width, r.height]);
          const h = createHash('sha256')
            .update(img.data as Uint8Array)
            .digest('hex');
          expect(h, `${tarName}:${r.member}`).toBe(r.sha256);
        }
      } finally {
        tar.close();
      }
    });
  }

  it('corrupt and truncated JPEGs are DataErrors with libjpeg’s reason; the decoder keeps working after', () => {
    const good = fs.readFileSync(path.join(FIX, expected.fixtures[0]!.file));
    expect(() => decodeImage(good.subarray(0, good.length - 200), 't.jpg')).toThrow(DataError);
    expect(() => decodeImage(good.subarray(0, good.length - 200), 't.jpg')).toThrow(/t\.jpg: .*Premature end/);
    expect(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 1, 2), 'g.jpg')).toThrow(/g\.jpg: cannot decode jpeg/);
    expect(decodeImage(good, 'ok.jpg').width).toBe(expected.fixtures[0]!.width);
  });
});
