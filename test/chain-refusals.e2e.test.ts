import { AbiCoder, Interface, Wallet, concat, id, toBeHex, type HDNodeWallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact } from '#chain';
import { DEV_ROLES } from '#devchain';
import { GqlClient } from './support/client.js';
import { Stack, devWallet, startStack, waitFor } from './support/stack.js';

const RELAY = `mutation($tx: String!) { relayTransaction(signedTransaction: $tx) { txHash function } }`;
/** what ethers and the nodes write; none of it may reach a client */
const ETHERS_TEXT = [/could not coalesce/i, /execution reverted/i, /code=/, /jsonrpc/i, /"method"/, /version=/, /eth_\w+/];

/** Runtime code that reverts with `data` whatever it is called with (copied from its own tail). */
function revertingWith(data: string): string {
  const bytes = (data.length - 2) / 2;
  const size = toBeHex(bytes, 2).slice(2);
  // PUSH2 size, PUSH2 15, PUSH1 0, CODECOPY, PUSH2 size, PUSH1 0, REVERT: 15 bytes, then the data
  return concat([`0x61${size}61000f600039` + `61${size}6000fd`, data]);
}

describe('refused transactions answer a closed code and a sentence, never the node’s or ethers’ text', () => {
  let stack: Stack;
  let verifier: HDNodeWallet;
  let client: GqlClient;
  const registry = new Interface(loadArtifact('CredentialRegistry').abi);
  const output: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };

  beforeAll(async () => {
    stack = await startStack();
    verifier = devWallet(DEV_ROLES.verifier, stack.provider);
    client = new GqlClient(stack.api);
    await client.signIn(verifier);
    // what the apps log: the node's words go there
    for (const stream of ['stdout', 'stderr'] as const)
      process[stream].write = ((chunk: unknown, ...rest: unknown[]) => (
        output.push(String(chunk)),
        writes[stream === 'stdout' ? 'out' : 'err'].call(process[stream], chunk as never, ...(rest as []))
      )) as never;
  }, 120_000);

  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    await stack?.stop();
  });

  /** A signed attestation of a fresh wallet by the verifier, with `overrides` (nonce, fees, gas). */
  async function attestation(overrides: { nonce?: number; maxFeePerGas?: bigint; gasLimit?: bigint } = {}) {
    const now = (await stack.provider.getBlock('latest'))!.timestamp;
    const data = registry.encodeFunctionData('attest', [Wallet.createRandom().address, 1n, 1, BigInt(now + 86400 * 365)]);
    const fee = await stack.provider.getFeeData();
    return verifier.signTransaction({
      type: 2,
      chainId: stack.deployment.chainId,
      to: stack.deployment.registry,
      data,
      nonce: overrides.nonce ?? (await stack.provider.getTransactionCount(verifier.address, 'pending')),
      gasLimit: overrides.gasLimit ?? 200_000n,
      maxFeePerGas: overrides.maxFeePerGas ?? fee.maxFeePerGas!,
      maxPriorityFeePerGas: 1n,
    });
  }

  /** relays `tx` over HTTP and returns the one error, after checking that no ethers or node text is in the answer */
  async function refused(tx: string) {
    const r = await client.send(RELAY, { tx });
    const body = JSON.stringify(r);
    expect(r.errors, body).toHaveLength(1);
    for (const text of ETHERS_TEXT) expect(body).not.toMatch(text);
    // a sentence for a person: no payload, no hex
    expect(r.errors![0].message).toMatch(/^[a-z][a-z ,:'()]+$/i);
    expect(r.errors![0].extensions).not.toHaveProperty('stacktrace');
    return { code: r.errors![0].extensions?.code, reason: r.errors![0].extensions?.reason, message: r.errors![0].message };
  }

  it('relays a valid attestation (the verifier role is indexed)', async () => {
    const ok = await waitFor('the verifier role to be indexed', async () => {
      const r = await client.send(RELAY, { tx: await attestation() });
      return r.errors?.[0]?.extensions?.code === 'FORBIDDEN' ? null : r;
    });
    expect(ok.errors).toBeUndefined();
    expect(ok.data.relayTransaction.function).toBe('attest');
  });

  it('a nonce already used: CONFLICT, NONCE_TOO_LOW, and a sentence', async () => {
    expect(await refused(await attestation({ nonce: 0 }))).toEqual({
      code: 'CONFLICT',
      reason: 'NONCE_TOO_LOW',
      message: "the transaction's nonce was already used: sign it again with the account's current nonce",
    });
    // the node's own words are in the log, once
    await waitFor('the refusal in the log', async () => output.some((l) => /refused a request \(NONCE_TOO_LOW\): \S/.test(l)));
  });

  it('gas the account cannot pay for: CONFLICT, INSUFFICIENT_FUNDS, and a sentence', async () => {
    // 29M gas at 1,000,000 gwei: more ether than any dev account holds
    expect(await refused(await attestation({ gasLimit: 29_000_000n, maxFeePerGas: 10n ** 15n }))).toEqual({
      code: 'CONFLICT',
      reason: 'INSUFFICIENT_FUNDS',
      message: 'the sending account cannot pay for the gas (and value) of this transaction',
    });
  });

  it('a revert with no known custom error, free text or no data: CONFLICT and a sentence, the contract’s text not shown', async () => {
    const code = await stack.provider.getCode(stack.deployment.registry);
    const revertString = new Interface(['error Error(string)']).encodeErrorResult('Error', [
      'execution reverted: code=CALL_EXCEPTION could not coalesce {"jsonrpc":"2.0"}',
    ]);
    try {
      for (const data of [
        concat([id('SomethingUnknown(uint256)').slice(0, 10), AbiCoder.defaultAbiCoder().encode(['uint256'], [7])]),
        revertString,
        '0x',
      ]) {
        await stack.provider.send('anvil_setCode', [stack.deployment.registry, revertingWith(data)]);
        expect(await refused(await attestation())).toEqual({
          code: 'CONFLICT',
          reason: undefined,
          message: 'the transaction would revert',
        });
      }
    } finally {
      await stack.provider.send('anvil_setCode', [stack.deployment.registry, code]);
    }
  });

  it('the same transaction sent twice: the second is refused as already sent, or mined once', async () => {
    const tx = await attestation();
    const first = await client.send(RELAY, { tx });
    expect(first.errors).toBeUndefined();
    const again = await refused(tx);
    expect(again.code).toBe('CONFLICT');
    expect(['ALREADY_KNOWN', 'NONCE_TOO_LOW']).toContain(again.reason);
  });
});
