import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { Interface, hashMessage, isHexString, verifyMessage } from 'ethers';
import { SiweMessage } from 'siwe';
import { APP_CONFIG, type AppConfig } from '#config';
import { AuthRepository } from '#db';
import { ChainService } from '../chain/index.js';
import { classifyChainError } from '#chain';
import { chainUnavailable } from '../common/chain-errors.js';
import { OpenReadError } from '../common/errors.js';
import { RateLimitService } from '../limits/index.js';
import { AuthCache } from './auth-cache.js';
import { RoleService } from './roles.js';

import type { AuthUser } from '../common/access.js';

/** The client bucket of sign-ins of accounts without a role. */
const NEW_ACCOUNT_SIGN_IN = 'login.newAccount';

const CLOCK_SKEW_MS = 60_000;
/** ERC-1271: isValidSignature(bytes32,bytes) returns this selector for a valid signature. */
const ERC1271 = new Interface(['function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)']);
const ERC1271_MAGIC = '0x1626ba7e';
const MAX_SIGNATURE_BYTES = 4096;
/** gas a smart account's signature check may use (a Safe's 1-of-n check needs well under 100k) */
const ERC1271_GAS = 500_000n;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Sign-In with Ethereum (EIP-4361): nonce → the wallet signs the message → login → opaque bearer token. */
@Injectable()
export class AuthService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: AuthRepository,
    private readonly chain: ChainService,
    private readonly roles: RoleService,
    private readonly limits: RateLimitService,
    private readonly cache: AuthCache,
  ) {}

  async issueNonce() {
    const nonce = randomBytes(16).toString('hex');
    const expiresAt = await this.repo.createNonce(nonce, this.config.api.nonceTtlSeconds);
    return { nonce, expiresAt, domain: this.config.api.siweDomain, uri: this.config.api.siweUri, chainId: this.config.chainId };
  }

  /** `client`: the caller's address as Express saw it, for the cap on sign-ins of accounts without a role. */
  async login(message: string, signature: string, client?: string): Promise<{ token: string; address: string; expiresAt: Date }> {
    const invalid = (why: string) => new OpenReadError('UNAUTHENTICATED', `sign-in rejected: ${why}`);
    let siwe: SiweMessage;
    try {
      siwe = new SiweMessage(message);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'message is not an EIP-4361 sign-in message');
    }
    const { api, chainId } = this.config;
    if (siwe.domain !== api.siweDomain) throw invalid('wrong domain');
    if (siwe.uri !== api.siweUri && !siwe.uri.startsWith(api.siweUri.replace(/\/?$/, '/'))) throw invalid('wrong URI');
    if (siwe.version !== '1') throw invalid('unsupported version');
    if (Number(siwe.chainId) !== chainId) throw invalid('wrong chain');
    const now = Date.now();
    const issuedAt = Date.parse(siwe.issuedAt ?? '');
    if (!Number.isFinite(issuedAt) || issuedAt > now + CLOCK_SKEW_MS) throw invalid('issued-at is missing or in the future');
    if (siwe.expirationTime && Date.parse(siwe.expirationTime) <= now) throw invalid('message expired');
    if (siwe.notBefore && Date.parse(siwe.notBefore) > now + CLOCK_SKEW_MS) throw invalid('message not yet valid');

    if (!(await this.signedBy(message, signature, siwe.address))) throw invalid('signature does not match the address');
    // consumed only after the signature checks out, so a third party cannot burn someone's nonce
    if (!(await this.repo.consumeNonce(siwe.nonce))) throw invalid('nonce unknown, expired or already used');

    // fresh throwaway wallets cost nothing to make: one client address signs in only so many accounts without a role
    // (each could write to queues and logs); accounts with a role are never held back by their neighbours
    if ((await this.roles.rolesOf(siwe.address.toLowerCase())).size === 0) {
      const perHour = this.config.api.newAccountSignInsPerHour;
      await this.limits.consumeClient(client, NEW_ACCOUNT_SIGN_IN, 1, { capacity: perHour, refillPerSecond: perHour / 3600 });
    }
    const token = randomBytes(32).toString('base64url');
    const ttl = this.config.api.sessionTtlSeconds * 1000;
    const expiresAt = new Date(Math.min(now + ttl, siwe.expirationTime ? Date.parse(siwe.expirationTime) : Number.POSITIVE_INFINITY));
    const address = siwe.address.toLowerCase();
    await this.repo.createSession(hashToken(token), address, chainId, expiresAt);
    return { token, address, expiresAt };
  }

  /**
   * Whether `address` signed `message` (EIP-191 personal_sign): an EOA whose key recovers from the signature, or
   * a smart account (ERC-1271, e.g. a Safe) whose isValidSignature accepts it for the message hash, at the latest
   * block. Counterfactual (not yet deployed) accounts (ERC-6492) are not supported.
   * HAZARD: a smart account decides itself what is valid; only the account named in the message can be signed
   * in as, so a permissive account only endangers itself.
   */
  private async signedBy(message: string, signature: string, address: string): Promise<boolean> {
    if (!isHexString(signature) || signature.length % 2 !== 0 || signature.length > 2 + 2 * MAX_SIGNATURE_BYTES) return false;
    // EOAs: exactly the 65-byte r‖s‖v form wallets produce, with v = 27 or 28 and low s. ethers would also take the
    // 64-byte EIP-2098 compact form (so a truncated signature could pass) and read any v ≥ 35 as an EIP-155 v (so
    // 0x2b or 0xfb would stand for 27: a tampered byte that still signs in): one canonical encoding only.
    if (canonicalEcdsa(signature)) {
      try {
        if (verifyMessage(message, signature).toLowerCase() === address.toLowerCase()) return true;
      } catch {
        // not a valid ECDSA signature: may still be a smart account's
      }
    }
    const data = ERC1271.encodeFunctionData('isValidSignature', [hashMessage(message), signature]);
    let result: string;
    try {
      if ((await this.chain.provider.getCode(address)) === '0x') return false;
      result = await this.chain.provider.call({ to: address, data, gasLimit: ERC1271_GAS });
    } catch (e) {
      if (classifyChainError(e).kind === 'REVERTED') return false; // reverted: not valid
      throw chainUnavailable('cannot check a smart-account signature: the chain node is not reachable');
    }
    // exactly the magic value, ABI-encoded as bytes4 (left-aligned in one 32-byte word)
    return result.length === 66 && result.toLowerCase() === ERC1271_MAGIC + '0'.repeat(56);
  }

  async authenticate(authorization: string | undefined): Promise<AuthUser | null> {
    const m = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(authorization ?? '');
    if (!m) return null;
    const session = await this.repo.findSession(hashToken(m[1]));
    if (!session || session.chainId !== this.config.chainId) return null;
    return { address: session.address };
  }

  /**
   * authenticate(), answered from AuthCache when it holds the session (the guard's path: every request). Only a
   * live session is cached, so an unknown or made-up token always reaches Postgres.
   */
  async authenticateCached(authorization: string | undefined): Promise<AuthUser | null> {
    const m = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(authorization ?? '');
    if (!m) return null;
    const tokenHash = hashToken(m[1]);
    const cached = this.cache.session(tokenHash);
    if (cached) return cached;
    const epoch = this.cache.epoch;
    const session = await this.repo.findSession(tokenHash);
    if (!session || session.chainId !== this.config.chainId) return null;
    const user = { address: session.address };
    this.cache.putSession(tokenHash, user, session.expiresAt, epoch);
    return user;
  }

  async logout(authorization: string | undefined): Promise<void> {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    if (!m) return;
    const tokenHash = hashToken(m[1]);
    this.cache.forgetSession(tokenHash);
    await this.repo.deleteSession(tokenHash);
    // again: a request of this session may have cached it while the DELETE ran (the notification also does this)
    this.cache.forgetSession(tokenHash);
  }
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
/** 65 bytes, v 27 or 28, s in the lower half (EIP-2): the one encoding wallets produce. */
function canonicalEcdsa(signature: string): boolean {
  if (signature.length !== 132) return false;
  const v = parseInt(signature.slice(130), 16);
  return (v === 27 || v === 28) && BigInt('0x' + signature.slice(66, 130)) <= SECP256K1_HALF_N;
}
