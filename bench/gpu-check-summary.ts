/**
 * The test part of `npm run gpu:check`'s summary (bench/gpu-check.ts), from vitest's JSON report: counts, how many
 * passed tests ran on gpujs-webgpu, and one line per failure that says what happened.
 *
 * Why a module of its own: vitest (4.x) replaces a timed-out test's error stack with the stack of an error it made
 * when the test was registered, so the report's failure message reads "Error: STACK_TRACE_ERROR" and the
 * "Test timed out in N ms" text is gone. A failure whose message is that placeholder, or names a timeout, is
 * reported here as "timed out after <its duration>", so a slow adapter is not mistaken for a wrong result.
 * A file that failed outside any test (an import or setup error) and a run killed by gpu:check's own time limit
 * are reported too. Tested on a real vitest report: test/meta/gpu-check-summary.test.ts.
 */

/** The parts of vitest's JSON report read here. */
export interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: {
    name: string;
    message?: string;
    assertionResults: { fullName: string; status: string; duration?: number | null; failureMessages: string[] }[];
  }[];
}

/** The test counts and failure lines of one gpu:check test run. */
export interface TestSummary {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  /** Passed tests whose name mentions webgpu. */
  readonly webgpu: number;
  readonly timedOut: number;
  /** One line per failed test or failed file, e.g. "name: timed out after 120.0 s" or "name: AssertionError: ...". */
  readonly failures: string[];
}

/** vitest's placeholder stack head for a timed-out test or hook. */
const PLACEHOLDER = 'Error: STACK_TRACE_ERROR';

/** Whether a failure message is a timeout (vitest's placeholder, or its own "timed out in" text). */
export function isTimeout(message: string | undefined): boolean {
  const first = (message ?? '').split('\n')[0]!.trim();
  return first === PLACEHOLDER || /\btimed out in \d+ ?ms\b/i.test(first);
}

/** Summarize a vitest JSON report (see the module note for how timeouts are told apart). */
export function summarizeTests(r: VitestJson): TestSummary {
  const failures: string[] = [];
  let timedOut = 0;
  let webgpu = 0;
  for (const file of r.testResults) {
    if (file.message) {
      // A file-level error (import, setup, a hook) carries its message, not the placeholder stack.
      const timeout = isTimeout(file.message);
      if (timeout) timedOut++;
      failures.push(`${file.name}: ${timeout ? 'timed out: ' : ''}${firstLine(file.message)}`);
    }
    for (const t of file.assertionResults) {
      if (t.status === 'passed' && /webgpu/i.test(t.fullName)) webgpu++;
      if (t.status !== 'failed') continue;
      const msg = t.failureMessages[0];
      if (isTimeout(msg)) {
        timedOut++;
        const s = typeof t.duration === 'number' ? ` after ${(t.duration / 1000).toFixed(1)} s` : '';
        failures.push(`${t.fullName}: timed out${s}`);
      } else {
        failures.push(`${t.fullName}: ${firstLine(msg ?? 'failed without a message')}`);
      }
    }
  }
  return {
    passed: r.numPassedTests,
    failed: r.numFailedTests,
    skipped: r.numPendingTests,
    webgpu,
    timedOut,
    failures,
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}
