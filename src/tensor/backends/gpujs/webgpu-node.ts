/**
 * Loads the `webgpu` package (Dawn's native addon) for Node. Browser bundles replace this file by
 * ./webgpu-browser.ts (package.json `browser` map), so they never try to bundle the addon.
 */

/** The package's entry points, or why it could not load. */
export type NodeWebgpu =
  | { create: (flags: string[]) => unknown; globals: Record<string, unknown> }
  | { reason: string };

export async function loadNodeWebgpu(): Promise<NodeWebgpu> {
  try {
    return (await import('webgpu')) as unknown as NodeWebgpu;
  } catch (err) {
    return { reason: `the webgpu package failed to load: ${(err as Error).message}` };
  }
}
