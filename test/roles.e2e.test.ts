import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import { Stack, startStack } from './support/stack.js';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { declaredAccess } from './support/access.js';
import { GqlClient } from './support/client.js';

describe('access rules', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('every query, mutation and subscription in the schema declares who may call it', async () => {
    const schema = stack.api.get(GraphQLSchemaHost).schema;
    const rootFields = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((t) =>
      t ? Object.keys(t.getFields()).map((f) => `${t.name}.${f}`) : [],
    );
    expect(rootFields.length).toBeGreaterThan(5);

    const declared = declaredAccess(stack.api);
    const undeclared = rootFields.filter((f) => !declared.get(f));
    expect(undeclared).toEqual([]);
  });

  it('refuses a radiologist-only operation to a signed-in account without a credential', async () => {
    const c = new GqlClient(stack.api);
    await c.signIn(Wallet.createRandom()); // a new account: no credential, no RO
    expect(await c.code(`{ worklist { asOf } }`)).toBe('FORBIDDEN');
    expect(await c.code(`{ myClaims { id } }`)).toBe('FORBIDDEN');
    expect(await c.code(`query($ro: String!) { roLedger(roId: $ro) { roId } }`, { ro: '00000000-0000-4000-8000-000000000000' })).toBe(
      'FORBIDDEN',
    );
  });
});
