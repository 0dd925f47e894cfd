#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with solc-js and writes contracts/out/<ContractName>.json
// ({ contractName, abi, bytecode }). Skips the work when the hash of (solc version, compiler settings, the
// OpenZeppelin version and every source) equals contracts/out/.hash: the check reads files only and does not load
// the compiler (loading soljson alone takes seconds), so an unchanged tree costs a few milliseconds.
// Errors exit 1; warnings are printed.
// contracts/out is tracked in git (ABI + bytecode + .hash): solc-js needs ~18 CPU-seconds for these sources, so a
// fresh clone whose sources match the committed hash compiles nothing on its first `npm start`. Whoever changes a
// source commits the recompiled contracts/out with it; `--check` (contracts/test/artifacts.test.ts, in `npm test`)
// compiles into memory and exits 1 when contracts/out differs from what the current sources compile to.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'contracts', 'src');
const outDir = join(root, 'contracts', 'out');
const hashFile = join(outDir, '.hash');
const check = process.argv.includes('--check');
const force = check || process.argv.includes('--force');

/** @returns {string[]} absolute paths of every .sol file under dir, sorted */
function walk(dir) {
  if (!existsSync(dir)) return [];
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(p));
    else if (entry.isFile() && entry.name.endsWith('.sol')) files.push(p);
  }
  return files.sort();
}

const files = walk(srcDir);
if (files.length === 0) {
  console.error(`compile-contracts: no .sol files under ${relative(root, srcDir)}`);
  process.exit(1);
}

/** source unit name: path relative to contracts/src, forward slashes */
const unitName = (abs) => relative(srcDir, abs).split(sep).join('/');
const sources = Object.fromEntries(files.map((f) => [unitName(f), { content: readFileSync(f, 'utf8') }]));

const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  viaIR: false,
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};
const packageVersion = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
const hash = createHash('sha256');
hash.update(`solc ${packageVersion('solc')}\0openzeppelin ${packageVersion('@openzeppelin/contracts')}\0${JSON.stringify(settings)}`);
for (const [name, { content }] of Object.entries(sources)) hash.update(`\0${name}\0${content}`);
const digest = hash.digest('hex');

if (!force && existsSync(hashFile) && readFileSync(hashFile, 'utf8').trim() === digest) {
  console.log(`compile-contracts: up to date (${files.length} sources, solc ${packageVersion('solc')})`);
  process.exit(0);
}
const { default: solc } = await import('solc');
const version = solc.version();

function findImports(path) {
  try {
    if (path.startsWith('@')) {
      return { contents: readFileSync(require.resolve(path), 'utf8') };
    }
    const local = join(srcDir, path);
    if (existsSync(local)) return { contents: readFileSync(local, 'utf8') };
    return { error: `File not found: ${path}` };
  } catch (e) {
    return { error: `Cannot resolve import ${path}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

const input = {
  language: 'Solidity',
  sources,
  settings,
};

const started = Date.now();
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const diagnostics = output.errors ?? [];
const errors = diagnostics.filter((d) => d.severity === 'error');
// Warnings from dependencies (e.g. OpenZeppelin's note on transient storage) are counted, not printed.
const warnings = diagnostics.filter((d) => d.severity !== 'error');
const depWarnings = warnings.filter((w) => w.sourceLocation?.file?.startsWith('@'));
for (const w of warnings.filter((w) => !depWarnings.includes(w))) {
  console.warn(w.formattedMessage ?? w.message);
}
if (depWarnings.length > 0) console.warn(`compile-contracts: ${depWarnings.length} warning(s) in dependencies not shown`);
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage ?? e.message);
  console.error(`compile-contracts: ${errors.length} error(s)`);
  process.exit(1);
}

/** file name in contracts/out → its content */
const artifacts = new Map([['.hash', digest + '\n']]);
const written = [];
for (const [unit, contracts] of Object.entries(output.contracts ?? {})) {
  if (!(unit in sources)) continue; // OpenZeppelin and other imports
  for (const [contractName, artifact] of Object.entries(contracts)) {
    const object = artifact.evm?.bytecode?.object ?? '';
    if (object.length === 0) continue; // interfaces and abstract contracts
    artifacts.set(`${contractName}.json`, JSON.stringify({ contractName, abi: artifact.abi, bytecode: `0x${object}` }, null, 2) + '\n');
    written.push(`${contractName} (${object.length / 2} bytes)`);
  }
}
if (check) {
  const present = existsSync(outDir) ? readdirSync(outDir).sort() : [];
  const stale = [...new Set([...present, ...artifacts.keys()])]
    .sort()
    .filter((f) => !artifacts.has(f) || !present.includes(f) || readFileSync(join(outDir, f), 'utf8') !== artifacts.get(f));
  if (stale.length > 0) {
    console.error(`compile-contracts: contracts/out is stale (${stale.join(', ')}); run npm run build:contracts and commit contracts/out`);
    process.exit(1);
  }
  console.log(`compile-contracts: contracts/out matches the sources (${written.length} contracts)`);
  process.exit(0);
}
// Start from a clean output dir so deleted contracts do not leave stale artifacts behind.
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const [file, content] of artifacts) writeFileSync(join(outDir, file), content);
console.log(`compile-contracts: solc ${version}, ${Date.now() - started} ms → ${written.join(', ')}`);
