// Package boundaries, checked by `npm run lint:deps` (part of `npm test`); test/boundaries.test.ts shows each rule
// failing on a violating import.
//
// Packages: apps/<name>, libs/<name>, tools/<name>, migrations, scripts, test, contracts/test. Another package is
// imported only through its public entry, by name (`#db`, `#chain`, … in package.json "imports"), never by a
// relative path; inside a package, imports are relative.
const { existsSync } = require('node:fs');

/** A package root: group 1 of a path under it. */
const PACKAGE = '^(apps/[^/]+|libs/[^/]+|tools/[^/]+|contracts/test|migrations|scripts|test)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles anywhere (type-only imports included).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'libs-not-to-apps',
      severity: 'error',
      comment: 'A library never imports an application.',
      from: { path: '^(libs|tools)/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-not-to-other-apps',
      severity: 'error',
      comment: 'An application (its tests included) never imports another application; end-to-end tests live in test/.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'no-relative-import-across-packages',
      severity: 'error',
      comment: 'Another package is imported by its #entry, never by a relative path.',
      from: { path: PACKAGE, pathNot: '^test/' },
      to: { dependencyTypes: ['local'], dependencyTypesNot: ['aliased-subpath-import'], pathNot: '^$1/' },
    },
    {
      name: 'no-relative-import-across-packages-from-tests',
      severity: 'error',
      comment:
        'Tests import other packages by their #entry; the only exception is scripts/ (commands, no entry), whose tests import the command they run.',
      from: { path: '^test/' },
      to: { dependencyTypes: ['local'], dependencyTypesNot: ['aliased-subpath-import'], pathNot: '^(test|scripts)/' },
    },
    {
      name: 'only-through-entries',
      severity: 'error',
      comment: 'Another package is imported only through its public entry (its index), never a file inside it.',
      from: { path: PACKAGE },
      to: {
        path: '^(apps|libs|tools|migrations)/',
        pathNot: [
          '^$1/',
          '^(apps|libs|tools)/[^/]+/src/index\\.ts$',
          '^libs/db/src/testing/index\\.ts$',
          '^libs/dicom/src/testing/index\\.ts$',
          '^apps/indexer/src/store/index\\.ts$',
          '^migrations/index\\.ts$',
        ],
      },
    },
    {
      name: 'devchain-not-in-production',
      severity: 'error',
      comment:
        'Local-chain tooling (#devchain: anvil, deployment) is for scripts and tests; production code gets its provider from #chain.',
      from: { path: '^(apps|libs)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^tools/devchain/' },
    },
    {
      name: 'dicom-testing-not-in-production',
      severity: 'error',
      comment: 'Generated DICOM studies and the PHI scan (#dicom/testing) are for tests and scripts only.',
      from: { path: '^(apps|libs)/', pathNot: ['\\.spec\\.ts$', '^libs/dicom/src/testing/'] },
      to: { path: '^libs/dicom/src/testing/' },
    },
    {
      name: 'indexer-store-only-for-tests-and-scripts',
      severity: 'error',
      comment: 'Only the indexer writes the event store and projections; tests and scripts may drive them (#indexer-store).',
      from: { pathNot: '^(apps/indexer|test|scripts)/' },
      to: { path: '^apps/indexer/src/store/' },
    },
    {
      name: 'api-feature-through-its-index',
      severity: 'error',
      comment:
        "An API feature folder (apps/api/src/<feature>/) uses another feature only through that feature's index.ts, which exports " +
        'its Nest module and what other features may use; common/ is shared by all.',
      from: { path: '^apps/api/src/([^/]+)/' },
      to: { path: '^apps/api/src/[^/]+/', pathNot: ['^apps/api/src/$1/', '^apps/api/src/common/', '^apps/api/src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'api-common-imports-no-feature',
      severity: 'error',
      comment: "The API's common/ (errors, validation, the access vocabulary, shared GraphQL types) depends on no feature.",
      from: { path: '^apps/api/src/common/' },
      to: { path: '^apps/api/src/', pathNot: '^apps/api/src/common/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Every relative or #entry import resolves to a file.',
      from: {},
      to: { couldNotResolve: true, pathNot: '^(node:|bun:)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|contracts/out|\\.openread|test/\\.generated)/' },
    // type-only imports count: a cycle through types is still a cycle between modules
    tsPreCompilationDeps: true,
    ...(existsSync('tsconfig.json') ? { tsConfig: { fileName: 'tsconfig.json' } } : {}),
    enhancedResolveOptions: {
      // the #entries resolve to the TypeScript sources, as for tsc and vitest
      conditionNames: ['openread-source', 'import', 'node', 'default'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
