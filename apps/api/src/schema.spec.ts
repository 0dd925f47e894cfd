import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '#config';
import { createTestDatabase } from '#db/testing';
import { createApiApp } from './bootstrap.js';

/**
 * The committed apps/api/schema.graphql is the API's GraphQL schema exactly as the running API builds it (the real
 * ApiModule, its resolvers and GraphQLModule settings), so every change of the API shows in review as a diff of
 * that file. After changing a resolver or a model: `npm run schema:update`, then commit schema.graphql.
 *
 * The API boots against a throwaway database and a chain it never calls (no relay key, no DAO: nothing at start
 * touches the chain); only `init()`, no port is opened.
 */
const UPDATE = 'npm run schema:update';
// the graphql instance Nest built the schema with: Node loads graphql's CommonJS build for @nestjs/graphql, while
// an `import` here would get the .mjs build through Vite, whose functions refuse the other build's types
const { lexicographicSortSchema, printSchema } = createRequire(import.meta.url)('graphql') as typeof import('graphql');
const zero = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;

describe('GraphQL schema', () => {
  let app: INestApplication;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    db = await createTestDatabase();
    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: 'http://127.0.0.1:9', // discard port: nothing may call it while the schema is built
      chainId: 31337,
      contracts: { token: zero(1), parameters: zero(2), registry: zero(3), market: zero(4), deployBlock: 0 },
      api: { port: 0, siweDomain: 'openread.test', siweUri: 'https://openread.test' },
      indexer: {},
      settler: {},
      bus: { settlerPort: 1 },
    });
    app = await createApiApp(config);
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it(`matches the committed apps/api/schema.graphql (update it with \`${UPDATE}\`)`, async () => {
    const { schema } = app.get(GraphQLSchemaHost);
    const sdl = `# Generated from the code by \`${UPDATE}\`; do not edit. Reviewed as part of every API change.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
    await expect(
      sdl,
      `The API's GraphQL schema differs from apps/api/schema.graphql: run \`${UPDATE}\` and commit the file`,
    ).toMatchFileSnapshot('../schema.graphql');
  });
});
