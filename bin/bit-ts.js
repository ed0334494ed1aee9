#!/usr/bin/env node
// Launcher of the `bit-ts` command: registers tsx's ESM hooks (resolved from this package's directory, the
// `import` condition of tsx's ./esm/api export) in this same process, then runs src/cli/main.ts, so signals
// (Ctrl-C) reach the training loop directly and the exit code is main()'s.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkgJson = createRequire(join(root, 'package.json')).resolve('tsx/package.json');
let entry = JSON.parse(readFileSync(pkgJson, 'utf8')).exports['./esm/api'];
while (entry && typeof entry === 'object') entry = entry.import ?? entry.default;
const { register } = await import(pathToFileURL(join(dirname(pkgJson), entry)).href);
register();
const { main } = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
process.exitCode = await main(process.argv.slice(2));
