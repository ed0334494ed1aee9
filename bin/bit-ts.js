#!/usr/bin/env node
// Launcher of the `bit-ts` command. It runs the compiled CLI (dist/src/cli/main.js) when that is present and up to
// date: always in the installed package, which ships dist/ and no TypeScript sources, so no devDependency is needed
// at run time. In a clone it runs dist/ only if no source file is newer than its compiled .js (after
// `npm run build`); otherwise it registers tsx's ESM hooks (resolved from this package's directory, the `import`
// condition of tsx's ./esm/api export) in this same process and runs src/cli/main.ts, so an edit takes effect
// without a rebuild. `BIT_TS_RUN=dist` or `BIT_TS_RUN=source` forces one of the two. Either way main() runs in this
// process, so signals (Ctrl-C) reach the training loop directly and the exit code is main()'s.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const compiledMain = join(dist, 'src', 'cli', 'main.js');

/** Modification time in ms, or -1 when the file is absent. */
function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * True when some compiled .js under dist/ has a TypeScript source (same path under the root, .ts) that is newer.
 * A new source file only runs once an existing one imports it, and that edit makes the importer newer.
 */
function distIsStale(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (distIsStale(file)) return true;
    } else if (entry.name.endsWith('.js')) {
      const source = join(root, relative(dist, file)).replace(/\.js$/, '.ts');
      if (mtime(source) > mtime(file)) return true;
    }
  }
  return false;
}

function useDist() {
  const forced = process.env.BIT_TS_RUN;
  if (forced === 'dist') return true;
  if (forced === 'source') return false;
  if (!existsSync(compiledMain)) return false;
  // no sources (the installed package): nothing to be stale against
  if (!existsSync(join(root, 'src', 'cli', 'main.ts'))) return true;
  return !distIsStale(dist);
}

/** Registers tsx's ESM hooks in this process; a clear exit when tsx is not installed. */
async function registerTsx() {
  let pkgJson;
  try {
    pkgJson = createRequire(join(root, 'package.json')).resolve('tsx/package.json');
  } catch {
    console.error(
      `bit-ts: ${compiledMain} is missing or older than its sources, and tsx (a devDependency) is not installed to ` +
        'run the TypeScript sources: run `npm ci` then `npm run build` in the repository.',
    );
    process.exit(1);
  }
  let entry = JSON.parse(readFileSync(pkgJson, 'utf8')).exports['./esm/api'];
  while (entry && typeof entry === 'object') entry = entry.import ?? entry.default;
  const { register } = await import(pathToFileURL(join(dirname(pkgJson), entry)).href);
  register();
}

let mainFile = compiledMain;
if (!useDist()) {
  await registerTsx();
  mainFile = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(mainFile).href);
process.exitCode = await main(process.argv.slice(2));
