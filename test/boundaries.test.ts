/**
 * The package-boundary rules (.dependency-cruiser.cjs, run on the repository by `npm run lint:deps`) do fail:
 * dependency-cruiser with the repository's configuration on a small generated repository, once with one violation
 * of each rule and once without any.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

const entry = (src: string) => ({ 'openread-source': `./${src}.ts`, default: `./dist/${src}.js` });
const IMPORTS = {
  '#a': entry('libs/a/src/index'),
  '#a/inner': entry('libs/a/src/inner'),
  '#b': entry('libs/b/src/index'),
  '#x': entry('apps/x/src/index'),
  '#y': entry('apps/y/src/index'),
  '#devchain': entry('tools/devchain/src/index'),
  '#dicom/testing': entry('libs/dicom/src/testing/index'),
  '#indexer-store': entry('apps/indexer/src/store/index'),
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'openread-boundaries-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fixture', type: 'module', imports: IMPORTS }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: unknown[];
}

async function cruise(dir: string): Promise<Violation[]> {
  const run = promisify(execFile);
  const args = [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', '--no-progress', 'apps', 'libs', 'tools', 'migrations'];
  // exit code = number of errors: read the report either way
  const { stdout } = await run(process.execPath, args, { cwd: dir, maxBuffer: 16 << 20 }).catch((e: { stdout?: string }) => ({
    stdout: e.stdout ?? '',
  }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const CLEAN = {
  'libs/a/src/index.ts': "export * from './inner.js';\n",
  'libs/a/src/inner.ts': 'export const a = 1;\n',
  'libs/b/src/index.ts': "import { a } from '#a';\nexport const b = a + 1;\n",
  'apps/x/src/index.ts': "import { b } from '#b';\nimport { local } from './local.js';\nexport const x = b + local;\n",
  'apps/x/src/local.ts': 'export const local = 1;\n',
  'apps/x/src/local.spec.ts': "import { startChain } from '#devchain';\nexport const t = startChain;\n",
  'apps/y/src/index.ts': "import { a } from '#a';\nexport const y = a;\n",
  'apps/indexer/src/store/index.ts': 'export const store = 1;\n',
  'apps/indexer/src/index.ts': "import { store } from './store/index.js';\nexport const indexer = store;\n",
  'tools/devchain/src/index.ts': "import { a } from '#a';\nexport const startChain = a;\n",
  'migrations/index.ts': 'export const migrations = [];\n',
  'libs/dicom/src/testing/index.ts': 'export const study = 1;\n',
  'libs/b/src/b.spec.ts': "import { study } from '#dicom/testing';\nexport const t = study;\n",
  // the API's feature folders: another feature through its index.ts, common/ from anywhere
  'apps/api/src/index.ts': "import { g } from './g/index.js';\nexport const api = g;\n",
  'apps/api/src/common/shared.ts': 'export const shared = 1;\n',
  'apps/api/src/f/index.ts': "export { f } from './f.service.js';\n",
  'apps/api/src/f/f.service.ts': "import { shared } from '../common/shared.js';\nexport const f = shared;\n",
  'apps/api/src/g/index.ts': "export { g } from './g.service.js';\n",
  'apps/api/src/g/g.service.ts': "import { f } from '../f/index.js';\nexport const g = f;\n",
};

describe('package boundaries (dependency-cruiser)', () => {
  it('accepts imports through the #entries, relative imports inside a package, and #devchain in a spec', async () => {
    expect(await cruise(repo(CLEAN))).toEqual([]);
  });

  it('reports each kind of violation', async () => {
    const dir = repo({
      ...CLEAN,
      // a library importing an application
      'libs/a/src/index.ts': "import { x } from '#x';\nexport * from './inner.js';\nexport const ax = x;\n",
      // an application importing another one
      'apps/x/src/index.ts': "import { y } from '#y';\nexport const x = y;\n",
      // a relative import into another package (the path is built so that no scan of this repo takes the fixture for one)
      'apps/y/src/index.ts': `import { b } from '${'../'.repeat(3)}libs/b/src/index.js';\nexport const y = b;\n`,
      // a file inside another package, not its index
      'libs/b/src/index.ts': "import { a } from '#a/inner';\nexport const b = a;\n",
      // a cycle
      'libs/b/src/one.ts': "import { two } from './two.js';\nexport const one = () => two;\n",
      'libs/b/src/two.ts': "import { one } from './one.js';\nexport const two = () => one;\n",
      // production code importing the local-chain tooling
      'apps/y/src/chain.ts': "import { startChain } from '#devchain';\nexport const chain = startChain;\n",
      // production code importing the generated DICOM studies meant for tests
      'apps/y/src/studies.ts': "import { study } from '#dicom/testing';\nexport const studies = study;\n",
      // the indexer's write side outside the indexer, tests and scripts
      'migrations/index.ts': "import { store } from '#indexer-store';\nexport const migrations = [store];\n",
      // an API feature reaching inside another feature instead of through its index.ts
      'apps/api/src/g/g.service.ts': "import { f } from '../f/f.service.js';\nexport const g = f;\n",
      // the API's common/ importing a feature
      'apps/api/src/common/helper.ts': "import { g } from '../g/index.js';\nexport const helper = g;\n",
      // an import that resolves to nothing
      'apps/x/src/broken.ts': "import { gone } from './gone.js';\nexport const broken = gone;\n",
    });
    const found = (await cruise(dir)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    expect(found).toEqual(
      [
        'api-common-imports-no-feature: apps/api/src/common/helper.ts → apps/api/src/g/index.ts',
        'api-feature-through-its-index: apps/api/src/g/g.service.ts → apps/api/src/f/f.service.ts',
        'apps-not-to-other-apps: apps/x/src/index.ts → apps/y/src/index.ts',
        'devchain-not-in-production: apps/y/src/chain.ts → tools/devchain/src/index.ts',
        'dicom-testing-not-in-production: apps/y/src/studies.ts → libs/dicom/src/testing/index.ts',
        'indexer-store-only-for-tests-and-scripts: migrations/index.ts → apps/indexer/src/store/index.ts',
        'libs-not-to-apps: libs/a/src/index.ts → apps/x/src/index.ts',
        'no-circular: libs/b/src/one.ts → libs/b/src/two.ts',
        'no-relative-import-across-packages: apps/y/src/index.ts → libs/b/src/index.ts',
        'no-unresolvable: apps/x/src/broken.ts → ./gone.js',
        'only-through-entries: libs/b/src/index.ts → libs/a/src/inner.ts',
      ].sort(),
    );
  });
});
