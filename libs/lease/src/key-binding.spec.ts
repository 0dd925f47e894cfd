import { ContractFactory, HDNodeWallet, Mnemonic, Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_MNEMONIC, AnvilHandle, startAnvil } from '#devchain';
import { createProvider, loadArtifact, waitForReceipt } from '#chain';
import { generateX25519KeyPair } from './crypto.js';
import { keyBindingDigest, keyBindingDomain, signKeyBinding, verifyKeyBinding } from './key-binding.js';

const owner = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/3`);

describe('encryption keys bound to wallets (EIP-712, ERC-1271)', () => {
  let anvil: AnvilHandle;
  let provider: ReturnType<typeof createProvider>;
  let account: string;
  const domain = keyBindingDomain(31337, '0x' + '33'.repeat(20));
  const key = generateX25519KeyPair().publicKey;

  beforeAll(async () => {
    anvil = await startAnvil();
    provider = createProvider(anvil.rpcUrl);
    const { abi, bytecode } = loadArtifact('TestSmartAccount');
    const contract = await new ContractFactory(abi, bytecode, owner.connect(provider)).deploy(owner.address);
    await waitForReceipt(provider, contract.deploymentTransaction()!.hash, 10_000);
    account = await contract.getAddress();
  });
  afterAll(async () => {
    provider?.destroy();
    await anvil?.stop();
  });

  it("an EOA's binding holds for exactly its account, key and domain", async () => {
    const w = Wallet.createRandom();
    const sig = await signKeyBinding(w, domain, key);
    expect(await verifyKeyBinding(provider, domain, w.address, key, sig)).toBe(true);
    expect(await verifyKeyBinding(provider, domain, w.address.toLowerCase(), key, sig)).toBe(true);
    expect(await verifyKeyBinding(provider, domain, Wallet.createRandom().address, key, sig)).toBe(false);
    expect(await verifyKeyBinding(provider, domain, w.address, generateX25519KeyPair().publicKey, sig)).toBe(false);
    expect(await verifyKeyBinding(provider, keyBindingDomain(1, domain.verifyingContract as string), w.address, key, sig)).toBe(false);
    // malformed input is refused, never thrown
    for (const bad of ['0x', '0x12', 'not hex', '0x' + '00'.repeat(65)])
      expect(await verifyKeyBinding(provider, domain, w.address, key, bad)).toBe(false);
  });

  it("a smart account's binding is what its isValidSignature accepts (ERC-1271)", async () => {
    const sig = owner.signingKey.sign(keyBindingDigest(domain, account, key)).serialized;
    expect(await verifyKeyBinding(provider, domain, account, key, sig)).toBe(true);
    const stranger = Wallet.createRandom().signingKey.sign(keyBindingDigest(domain, account, key)).serialized;
    expect(await verifyKeyBinding(provider, domain, account, key, stranger)).toBe(false);
    expect(await verifyKeyBinding(provider, domain, account, generateX25519KeyPair().publicKey, sig)).toBe(false);
  });
});
