import { ContractFactory, hashMessage, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_ROLES } from '#devchain';
import { loadArtifact, waitForReceipt } from '#chain';
import { GqlClient } from './support/client.js';
import { Stack, devWallet, startStack } from './support/stack.js';

const LOGIN = `mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token address } }`;

describe('sign-in over HTTP', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('signs in a smart account (ERC-1271) whose owner signed, once; refuses replays, strangers and other domains', async () => {
    const owner = devWallet(DEV_ROLES.spare[0], stack.provider);
    const { abi, bytecode } = loadArtifact('TestSmartAccount');
    const contract = await new ContractFactory(abi, bytecode, owner).deploy(owner.address);
    await waitForReceipt(stack.provider, contract.deploymentTransaction()!.hash, 10_000);
    const account = await contract.getAddress();
    const asAccount = (by: typeof owner) => ({
      address: account,
      signMessage: async (m: string) => by.signingKey.sign(hashMessage(m)).serialized,
    });

    const c = new GqlClient(stack.api);
    const ok = await c.signIn(asAccount(owner));
    expect(ok.errors).toBeUndefined();
    expect(ok.data.login.address).toBe(account.toLowerCase());
    expect((await c.ok(`{ myCredential { active } }`)).myCredential).toBeNull(); // the session works

    const replay = await new GqlClient(stack.api).send(LOGIN, { m: ok.message, s: ok.signature });
    expect(replay.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');

    const stranger = await new GqlClient(stack.api).signIn(asAccount(Wallet.createRandom()));
    expect(stranger.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const otherDomain = await new GqlClient(stack.api).signIn(asAccount(owner), { domain: 'evil.test' });
    expect(otherDomain.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const otherChain = await new GqlClient(stack.api).signIn(owner, { chainId: 1 });
    expect(otherChain.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });
});
