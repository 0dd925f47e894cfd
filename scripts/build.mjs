#!/usr/bin/env node
// `npm run build`: the contracts (solc-js, cached by source hash in contracts/out) and the TypeScript
// (tsc) built side by side; both are CPU-bound and independent. Exits non-zero when either fails.
// tsc is skipped when the hash of every TypeScript input (and the tsconfigs and the lockfile) equals the one
// recorded after the last successful build (dist/.build-hash): even an incremental tsc with nothing to do parses
// every declaration file, seconds on this machine. When something changed, tsc runs incrementally
// (dist/.tsbuildinfo). Deleting dist (or contracts/out) forces a full build of that half.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function run(args) {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (code, signal) => done(signal ? 1 : (code ?? 1)));
    child.on('error', (e) => {
      console.error(`build: could not run ${args.join(' ')}: ${e.message}`);
      done(1);
    });
  });
}

function* tsFiles(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(p);
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.mts')) yield p;
  }
}

function sourceHash() {
  const hash = createHash('sha256');
  const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((f) => join(root, f));
  for (const dir of ['apps', 'libs', 'tools', 'migrations', 'scripts']) inputs.push(...tsFiles(join(root, dir)));
  for (const f of inputs) if (existsSync(f)) hash.update(`\0${f}\0`).update(readFileSync(f));
  return hash.digest('hex');
}

async function buildTypeScript() {
  const hashFile = join(root, 'dist', '.build-hash');
  const digest = sourceHash();
  if (existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest) {
    console.log('build: TypeScript up to date');
    return 0;
  }
  const code = await run([tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', join('dist', '.tsbuildinfo')]);
  if (code === 0) writeFileSync(hashFile, digest + '\n');
  return code;
}

const codes = await Promise.all([run([join(root, 'scripts', 'compile-contracts.mjs')]), buildTypeScript()]);
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
