#!/usr/bin/env node
// `npm run build`: the contracts and the TypeScript under apps, libs, tools, migrations and scripts into dist/.
//
// TypeScript is transpiled with SWC, file by file, not with tsc: a full tsc build costs ~15 s of CPU on this
// machine (it type-checks everything), SWC transpiles the same tree in about a second, which is most of what keeps
// the first `npm start` on a fresh clone under 15 s. Type checking is `npm run typecheck` (and `npm test`, which
// runs build, typecheck and lint:deps). The SWC options are the ones vitest uses (vitest.config.ts through
// unplugin-swc), derived from tsconfig.json: legacy decorators with decorator metadata (NestJS's dependency injection
// and TypeORM read the constructor parameter types from it), useDefineForClassFields false, class names kept, ES
// module output with the `.js` specifiers left as written, ES2022, source maps.
// Only what changed is transpiled again: dist/.swc-manifest.json records the SHA-256 of every source it transpiled,
// and the outputs of deleted sources are removed. Deleting dist forces a full build.
//
// The contracts: contracts/out (ABI + bytecode, tracked in git together with the hash of the sources it was
// compiled from) is compiled again only when that hash differs; see compile-contracts.mjs.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

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

/** the inputs of tsconfig.build.json: .ts under these folders, without tests and declaration files */
function* tsFiles(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(p);
    else if (/\.m?ts$/.test(entry.name) && !/\.(spec|test)\.m?ts$/.test(entry.name) && !/\.d\.m?ts$/.test(entry.name)) yield p;
  }
}

const swcOptions = (filename) => ({
  filename,
  swcrc: false,
  configFile: false,
  sourceMaps: true,
  module: { type: 'es6' },
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    keepClassNames: true,
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
  },
});

async function buildTypeScript() {
  const started = Date.now();
  const swc = require('@swc/core');
  const manifestFile = join(dist, '.swc-manifest.json');
  // the options and SWC's version are part of every entry: a change to either transpiles everything again
  const salt = `${require('@swc/core/package.json').version}\0${JSON.stringify(swcOptions(''))}`;
  let previous = {};
  try {
    previous = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch {
    /* no dist yet, or unreadable: everything is transpiled */
  }
  const sources = ['apps', 'libs', 'tools', 'migrations', 'scripts'].flatMap((d) => [...tsFiles(join(root, d))]);
  const manifest = {};
  const outputOf = (rel) => join(dist, rel.replace(/\.(m?)ts$/, '.$1js'));
  const changed = [];
  for (const abs of sources) {
    const rel = relative(root, abs).split(sep).join('/');
    const code = readFileSync(abs, 'utf8');
    const digest = createHash('sha256').update(salt).update('\0').update(code).digest('hex');
    manifest[rel] = digest;
    if (previous[rel] !== digest || !existsSync(outputOf(rel))) changed.push({ rel, abs, code });
  }
  let failed = 0;
  // transform() runs on SWC's thread pool; a few hundred small files at once is fine
  await Promise.all(
    changed.map(async ({ rel, abs, code }) => {
      try {
        const out = outputOf(rel);
        const mapName = `${out.slice(out.lastIndexOf(sep) + 1)}.map`;
        const result = await swc.transform(code, swcOptions(abs));
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, `${result.code}\n//# sourceMappingURL=${mapName}\n`);
        if (result.map) writeFileSync(`${out}.map`, result.map);
      } catch (e) {
        failed++;
        delete manifest[rel];
        console.error(`build: ${rel}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }),
  );
  let removed = 0;
  for (const rel of Object.keys(previous)) {
    if (rel in manifest || sources.some((s) => relative(root, s).split(sep).join('/') === rel)) continue;
    rmSync(outputOf(rel), { force: true });
    rmSync(`${outputOf(rel)}.map`, { force: true });
    removed++;
  }
  mkdirSync(dist, { recursive: true });
  writeFileSync(manifestFile, JSON.stringify(manifest) + '\n');
  if (failed > 0) {
    console.error(`build: ${failed} file(s) failed to transpile`);
    return 1;
  }
  console.log(
    changed.length === 0 && removed === 0
      ? 'build: TypeScript up to date'
      : `build: TypeScript transpiled (SWC): ${changed.length} of ${sources.length} file(s)${removed ? `, ${removed} removed` : ''}, ${Date.now() - started} ms`,
  );
  return 0;
}

const codes = await Promise.all([run([join(root, 'scripts', 'compile-contracts.mjs')]), buildTypeScript()]);
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
