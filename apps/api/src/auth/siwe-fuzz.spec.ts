import { ContractFactory, HDNodeWallet, Mnemonic, Wallet, hashMessage } from 'ethers';
import { DiscoveryService, ModulesContainer } from '@nestjs/core';
import { SiweMessage } from 'siwe';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_MNEMONIC, AnvilHandle, startAnvil } from '#devchain';
import { loadArtifact, waitForReceipt } from '#chain';
import { parseConfig } from '#config';
import { AuthRepository, RateLimitRepository, RoleRepository, createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { seededRandom } from '#domain';
import { ChainService } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { RateLimitService } from '../limits/index.js';
import { AuthService } from './auth.service.js';
import { AuthCache } from './auth-cache.js';
import { RoleService } from './roles.js';

/** Mutations per class; OPENREAD_FUZZ_SCALE=10 for a long run. */
const SCALE = Number(process.env.OPENREAD_FUZZ_SCALE ?? 1);
const DOMAIN = 'openread.test';
const URI = 'https://openread.test';
const owner = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/3`);
const stranger = Wallet.createRandom();

interface Signer {
  address: string;
  sign(message: string): Promise<string>;
}
const eoa = (w: Wallet | HDNodeWallet): Signer => ({ address: w.address, sign: (m) => w.signMessage(m) });
/** the smart account's owner signs the EIP-191 hash of the message; the account's isValidSignature checks it */
const smart = (account: string, by: Wallet | HDNodeWallet): Signer => ({
  address: account,
  sign: async (m) => by.signingKey.sign(hashMessage(m)).serialized,
});

describe('SIWE sign-in against mutated and replayed messages', () => {
  let anvil: AnvilHandle;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let chain: ChainService;
  let auth: AuthService;
  let repo: AuthRepository;
  let account: string;
  let chainId: number;

  beforeAll(async () => {
    [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
    ds = await createDataSource(db.url).initialize();
    const zero = '0x' + '0'.repeat(40);
    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: 31337,
      contracts: { token: zero, parameters: zero, registry: zero, market: zero, deployBlock: 0 },
      // the fuzz signs in role-less accounts over and over: the cap per client address is not what it tests
      api: { siweDomain: DOMAIN, siweUri: URI, newAccountSignInsPerHour: 1_000_000 },
      indexer: {},
      settler: {},
      bus: {},
    });
    chainId = config.chainId;
    chain = new ChainService(config);
    repo = new AuthRepository(ds);
    // the cache never started: it keeps nothing (sign-in is what is fuzzed)
    const cache = new AuthCache(config);
    const roles = new RoleService(config, new RoleRepository(ds), new DiscoveryService(new ModulesContainer()), cache);
    auth = new AuthService(config, repo, chain, roles, new RateLimitService(config, new RateLimitRepository(ds)), cache);
    const { abi, bytecode } = loadArtifact('TestSmartAccount');
    const deployer = owner.connect(chain.provider);
    const contract = await new ContractFactory(abi, bytecode, deployer).deploy(owner.address);
    await waitForReceipt(chain.provider, contract.deploymentTransaction()!.hash, 10_000);
    account = await contract.getAddress();
  });
  afterAll(async () => {
    chain?.onApplicationShutdown();
    await ds?.destroy();
    await db?.drop();
    await anvil?.stop();
  });

  const fields = async (signer: Signer, nonce?: string): Promise<Partial<SiweMessage>> => ({
    domain: DOMAIN,
    address: signer.address,
    statement: 'Sign in to OpenRead',
    uri: URI,
    version: '1',
    chainId,
    nonce: nonce ?? (await auth.issueNonce()).nonce,
    issuedAt: new Date().toISOString(),
  });
  const build = (f: Partial<SiweMessage>) => new SiweMessage(f).prepareMessage();

  /** a login that must be refused: a domain error (never a crash), UNAUTHENTICATED or BAD_INPUT */
  async function refused(message: string, signature: string): Promise<string | null> {
    try {
      await auth.login(message, signature);
      return 'ACCEPTED';
    } catch (e) {
      if (!(e instanceof OpenReadError)) return `crash: ${(e as Error).message}`;
      return e.code === 'UNAUTHENTICATED' || e.code === 'BAD_INPUT' ? null : e.code;
    }
  }

  it('accepts a fresh message from the EOA and from its ERC-1271 smart account, each exactly once', async () => {
    for (const signer of [eoa(owner), smart(account, owner)]) {
      const message = build(await fields(signer));
      const signature = await signer.sign(message);
      const session = await auth.login(message, signature);
      expect(session.address).toBe(signer.address.toLowerCase());
      expect(await auth.authenticate(`Bearer ${session.token}`)).toEqual({ address: signer.address.toLowerCase() });
      expect(await refused(message, signature)).toBeNull(); // replay
    }
    // the same EOA signature with v in another encoding (ethers would read 0, 0x2b or 0xfb as 27 or 28) is a tampered one
    {
      const message = build(await fields(eoa(owner)));
      const signature = await owner.signMessage(message);
      const v = parseInt(signature.slice(-2), 16);
      for (const other of [v - 27, v + 16, v === 27 ? 0xfb : 0xfc, v === 27 ? 0x2b : 0x2c])
        expect(await refused(message, signature.slice(0, -2) + other.toString(16).padStart(2, '0'))).toBeNull();
      expect((await auth.login(message, signature)).address).toBe(owner.address.toLowerCase());
    }
    // a stranger cannot sign for the account, and the owner's signature of a different message does not count
    const m = build(await fields(smart(account, owner)));
    expect(await refused(m, await smart(account, stranger).sign(m))).toBeNull();
    expect(await refused(m, await owner.signMessage(`${m} `))).toBeNull();
  });

  it('refuses thousands of mutated, re-signed, tampered and replayed messages', async () => {
    const rnd = seededRandom(1271);
    const failures: string[] = [];
    const check = async (what: string, message: string, signature: string) => {
      const r = await refused(message, signature);
      if (r) failures.push(`${what}: ${r}`);
    };
    const signers = [eoa(owner), smart(account, owner)];
    const now = Date.now();

    // 1. well-signed messages that break one rule each (fresh, valid nonce: only the broken rule can refuse them)
    const semantic: [string, (f: Partial<SiweMessage>) => Partial<SiweMessage> | Promise<Partial<SiweMessage>>][] = [
      [
        'other domain',
        (f) => ({
          ...f,
          domain: rnd.pick(['evil.test', 'openread.test.evil.com', 'OPENREAD.TEST', 'openread.test:443', 'xopenread.test']),
        }),
      ],
      [
        'other uri',
        (f) => ({
          ...f,
          uri: rnd.pick(['https://evil.test', 'https://openread.test.evil.com', 'http://openread.test', 'https://openread.testx/login']),
        }),
      ],
      ['other chain', (f) => ({ ...f, chainId: rnd.pick([1, 5, 137, 31338, 0x7a69 + 1]) })],
      ['issued in the future', (f) => ({ ...f, issuedAt: new Date(now + rnd.int(120, 10 ** 7) * 1000).toISOString() })],
      ['expired', (f) => ({ ...f, expirationTime: new Date(now - rnd.int(1, 10 ** 7) * 1000).toISOString() })],
      ['not yet valid', (f) => ({ ...f, notBefore: new Date(now + rnd.int(120, 10 ** 7) * 1000).toISOString() })],
      ['unknown nonce', (f) => ({ ...f, nonce: Buffer.from(Array.from({ length: 16 }, () => rnd.int(0, 255))).toString('hex') })],
      [
        'expired nonce',
        async (f) => {
          const nonce = Buffer.from(Array.from({ length: 16 }, () => rnd.int(0, 255))).toString('hex');
          await repo.createNonce(nonce, -rnd.int(1, 3600));
          return { ...f, nonce };
        },
      ],
      // (the owner's key legitimately signs for both the owner and its account, so "another" is one it does not control)
      ['names another account', (f) => ({ ...f, address: rnd.pick([stranger.address, Wallet.createRandom().address]) })],
    ];
    for (let i = 0; i < 60 * SCALE; i++) {
      for (const [what, mutate] of semantic) {
        const signer = rnd.pick(signers);
        const f = await mutate(await fields(signer));
        const message = build(f);
        await check(what, message, await signer.sign(message));
      }
    }

    // 2. tampered bytes of a correctly signed message or of its signature, not re-signed
    const base = await Promise.all(
      signers.map(async (s) => {
        const message = build(await fields(s));
        return { message, signature: await s.sign(message) };
      }),
    );
    const flip = (s: string, alphabet: string) => {
      const i = rnd.int(0, s.length - 1);
      let c = s[i];
      while (c === s[i]) c = alphabet[rnd.int(0, alphabet.length - 1)];
      return s.slice(0, i) + c + s.slice(i + 1);
    };
    const printable = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/.-\n';
    for (let i = 0; i < 1000 * SCALE; i++) {
      const { message, signature } = rnd.pick(base);
      switch (rnd.int(0, 4)) {
        case 0:
          await check('message byte', flip(message, printable), signature);
          break;
        case 1:
          await check('signature byte', message, '0x' + flip(signature.slice(2), '0123456789abcdef'));
          break;
        case 2:
          await check('truncated signature', message, signature.slice(0, rnd.int(0, signature.length - 1)));
          break;
        case 3:
          await check('truncated message', message.slice(0, rnd.int(0, message.length - 1)), signature);
          break;
        default: {
          const lines = message.split('\n');
          const j = rnd.int(0, lines.length - 1);
          lines.splice(j, 0, lines[j]); // a duplicated line
          await check('duplicated line', lines.join('\n'), signature);
        }
      }
    }

    // 3. replays: each message accepted once, then refused again and again (also concurrently)
    for (let i = 0; i < 20 * SCALE; i++) {
      const signer = rnd.pick(signers);
      const message = build(await fields(signer));
      const signature = await signer.sign(message);
      const results = await Promise.all(Array.from({ length: 10 }, () => refused(message, signature)));
      if (results.filter((r) => r === 'ACCEPTED').length !== 1) failures.push(`concurrent replay: ${results.join(',')}`);
      for (let k = 0; k < 10; k++) await check('replay', message, signature);
    }

    // 4. the right message, signed by the wrong key
    for (let i = 0; i < 100 * SCALE; i++) {
      const signer = rnd.pick(signers);
      const message = build(await fields(signer));
      await check(
        'wrong key',
        message,
        rnd.next() < 0.5 ? await stranger.signMessage(message) : await smart(signer.address, stranger).sign(message),
      );
    }

    expect(failures.slice(0, 10)).toEqual([]);
  });
});
