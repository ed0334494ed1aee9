/**
 * What a user sees from in-process command runs (`main(argv)`): console.log lines in `out`, console.error lines
 * in `err`, emptied before each test of the calling file and restored after it. `clear()` empties both mid-test.
 */
import { afterEach, beforeEach, vi } from 'vitest';

export interface CapturedConsole {
  out: string[];
  err: string[];
  clear(): void;
}

/** Capture console output for every test of the calling file (call at module level). */
export function captureConsole(): CapturedConsole {
  const c: CapturedConsole = {
    out: [],
    err: [],
    clear() {
      c.out.length = 0;
      c.err.length = 0;
    },
  };
  beforeEach(() => {
    c.clear();
    vi.spyOn(console, 'error').mockImplementation((m: unknown) => void c.err.push(String(m)));
    vi.spyOn(console, 'log').mockImplementation((m: unknown) => void c.out.push(String(m)));
  });
  afterEach(() => vi.restoreAllMocks());
  return c;
}
