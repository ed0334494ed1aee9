/**
 * Loads the `webgpu` package (Dawn's native addon) for Node. Browser bundles replace this file by
 * ./webgpu-browser.ts (package.json `browser` map), so they never try to bundle the addon.
 *
 * On Linux, Dawn reaches GPUs through Vulkan drivers (ICD manifests). When no manifest exists anywhere the
 * Vulkan loader looks, Dawn can find no adapter, and creating its instance only prints "vkCreateInstance: Found
 * no drivers!" on stderr (on every command that picks a backend, `npm start` included): so the addon is not
 * loaded and the reason names what is missing, the driver, not libvulkan (which is usually installed).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The package's entry points, or why it could not load. */
export type NodeWebgpu =
  | { create: (flags: string[]) => unknown; globals: Record<string, unknown> }
  | { reason: string };

function jsonFiles(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/**
 * Vulkan driver manifests the loader would find (VK_DRIVER_FILES / VK_ICD_FILENAMES, VK_ADD_DRIVER_FILES, then
 * the icd.d folders under XDG_CONFIG_DIRS, /etc, XDG_DATA_DIRS and ~/.local/share), or null off Linux.
 */
export function vulkanDriverFiles(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string[] | null {
  if (platform !== 'linux') return null;
  const listed = (v: string | undefined) => (v ? v.split(':').filter((f) => f && fs.existsSync(f)) : []);
  const explicit = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES;
  const added = listed(env.VK_ADD_DRIVER_FILES);
  if (explicit) return [...listed(explicit), ...added];
  const dirs = [
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':'),
    '/etc',
    ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':'),
    path.join(env.HOME || os.homedir(), '.local/share'),
  ];
  return [...added, ...dirs.filter(Boolean).flatMap((d) => jsonFiles(path.join(d, 'vulkan', 'icd.d')))];
}

export async function loadNodeWebgpu(): Promise<NodeWebgpu> {
  const drivers = vulkanDriverFiles();
  if (drivers !== null && drivers.length === 0) {
    return {
      reason:
        'no Vulkan driver: no ICD manifest in /etc/vulkan/icd.d, /usr/share/vulkan/icd.d (or XDG_*_DIRS, ' +
        'VK_ICD_FILENAMES); install a GPU driver (mesa-vulkan-drivers, the NVIDIA driver) or point ' +
        'VK_ICD_FILENAMES at one (SwiftShader: see README, WebGPU)',
    };
  }
  try {
    return (await import('webgpu')) as unknown as NodeWebgpu;
  } catch (err) {
    return { reason: `the webgpu package failed to load: ${(err as Error).message}` };
  }
}
