/**
 * Environment switches (BIT_*), read the same way everywhere: Node's `process.env` where the runtime has one,
 * nothing in a browser (every switch then takes its default). Values are read when called, not cached, so A/B
 * benches can flip a lever between calls in one process; callers that want a value fixed at creation read once.
 */

type Env = Record<string, string | undefined>;

/** The variable's value, or undefined when unset or when the runtime has no process environment. */
export function envVar(name: string): string | undefined {
  return (globalThis as { process?: { env?: Env } }).process?.env?.[name];
}

/** False only when the variable is exactly '0': the convention of the switches that turn a lever off. */
export function envOn(name: string): boolean {
  return envVar(name) !== '0';
}
