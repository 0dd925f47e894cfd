import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import { DEV_ROLES } from '#devchain';
import { Stack, devWallet, startStack } from './support/stack.js';
import { GqlClient } from './support/client.js';

const LOGIN = `mutation($m: String!, $s: String!) { login(message: $m, signature: $s) { token } }`;

describe('Sign-In with Ethereum', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('issues a session for a correctly signed message and refuses the same nonce a second time', async () => {
    const c = new GqlClient(stack.api);
    const first = await c.signIn(devWallet(DEV_ROLES.radiologists[0], stack.provider));
    expect(first.errors).toBeUndefined();
    expect(first.data.login.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(await new GqlClient(stack.api).code(LOGIN, { m: first.message, s: first.signature })).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['another domain', { domain: 'evil.example' }],
    ['another URI', { uri: 'https://evil.example' }],
    ['another chain', { chainId: 1 }],
    ['an expired message', { expirationTime: new Date(Date.now() - 1000).toISOString() }],
    ['a message issued in the future', { issuedAt: new Date(Date.now() + 3600_000).toISOString() }],
    ['a message not valid yet', { notBefore: new Date(Date.now() + 3600_000).toISOString() }],
    ['a nonce the server never issued', { nonce: 'abcdefgh12345678' }],
  ])('refuses %s', async (_, overrides) => {
    const r = await new GqlClient(stack.api).signIn(devWallet(DEV_ROLES.radiologists[0], stack.provider), overrides as never);
    expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a signature by someone other than the named address, without burning the nonce', async () => {
    const c = new GqlClient(stack.api);
    const signed = await c.signIn(devWallet(DEV_ROLES.radiologists[0], stack.provider));
    const { nonce } = await c.ok(`mutation { nonce { nonce domain uri chainId } }`);
    const message = signed.message.replace(/Nonce: \w+/, `Nonce: ${nonce.nonce}`);
    const forged = await devWallet(DEV_ROLES.radiologists[1], stack.provider).signMessage(message);
    expect(await c.code(LOGIN, { m: message, s: forged })).toBe('UNAUTHENTICATED');
    const genuine = await devWallet(DEV_ROLES.radiologists[0], stack.provider).signMessage(message);
    expect((await c.send(LOGIN, { m: message, s: genuine })).data?.login.token).toBeTruthy();
  });

  it('rejects text that is not a sign-in message as BAD_INPUT and a bogus bearer token as UNAUTHENTICATED', async () => {
    const c = new GqlClient(stack.api);
    expect(await c.code(LOGIN, { m: 'hello', s: '0x00' })).toBe('BAD_INPUT');
    c.token = 'x'.repeat(43);
    expect(await c.code(`{ myClaims { id } }`)).toBe('UNAUTHENTICATED');
  });

  it('ends the session on logout', async () => {
    const c = new GqlClient(stack.api);
    await c.signIn(Wallet.createRandom());
    expect((await c.ok(`mutation { logout }`)).logout).toBe(true);
    expect(await c.code(`mutation { logout }`)).toBe('UNAUTHENTICATED');
  });
});
