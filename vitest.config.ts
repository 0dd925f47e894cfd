import swc from 'unplugin-swc';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// SWC (not esbuild) transpiles the tests so that NestJS gets decorator metadata (emitDecoratorMetadata).
// package.json "imports" (#db, #chain, …) point at the TypeScript sources under the openread-source condition
// (and at dist/ without it, for node): the tests run the sources.
const SOURCE = 'openread-source';

export default defineConfig({
  resolve: { conditions: [SOURCE, ...defaultClientConditions] },
  // without the bundlers' "module" condition, which vitest also passes to Node: with it, Node loads the ESM builds of
  // packages such as the AWS SDK, whose extensionless imports only bundlers resolve; Node in production never uses it
  ssr: { resolve: { conditions: [SOURCE, ...defaultServerConditions.filter((c) => c !== 'module')] } },
  plugins: [swc.vite({ module: { type: 'es6' }, jsc: { target: 'es2022' } })],
  test: {
    include: ['libs/**/*.spec.ts', 'apps/**/*.spec.ts', 'tools/**/*.spec.ts', 'contracts/test/**/*.test.ts', 'test/**/*.test.ts'],
    // generous: CI and development share two cores with other work, and chain tests are CPU-bound
    testTimeout: 180_000,
    hookTimeout: 240_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
