import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { verifyMessage } from 'ethers';
import { SiweMessage } from 'siwe';
import { APP_CONFIG, type AppConfig } from '../../../../libs/config/src/index.js';
import { AuthRepository } from '../../../../libs/db/src/index.js';
import { OpenReadError } from '../common/errors.js';

export interface AuthUser {
  address: string;
}

const CLOCK_SKEW_MS = 60_000;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Sign-In with Ethereum (EIP-4361): nonce → the wallet signs the message → login → opaque bearer token. */
@Injectable()
export class AuthService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: AuthRepository,
  ) {}

  async issueNonce() {
    const nonce = randomBytes(16).toString('hex');
    const expiresAt = await this.repo.createNonce(nonce, this.config.api.nonceTtlSeconds);
    return { nonce, expiresAt, domain: this.config.api.siweDomain, uri: this.config.api.siweUri, chainId: this.config.chainId };
  }

  async login(message: string, signature: string): Promise<{ token: string; address: string; expiresAt: Date }> {
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

    let signer: string;
    try {
      signer = verifyMessage(message, signature);
    } catch {
      throw invalid('malformed signature');
    }
    if (signer.toLowerCase() !== siwe.address.toLowerCase()) throw invalid('signature does not match the address');
    // consumed only after the signature checks out, so a third party cannot burn someone's nonce
    if (!(await this.repo.consumeNonce(siwe.nonce))) throw invalid('nonce unknown, expired or already used');

    const token = randomBytes(32).toString('base64url');
    const ttl = this.config.api.sessionTtlSeconds * 1000;
    const expiresAt = new Date(
      Math.min(now + ttl, siwe.expirationTime ? Date.parse(siwe.expirationTime) : Number.POSITIVE_INFINITY),
    );
    const address = siwe.address.toLowerCase();
    await this.repo.createSession(hashToken(token), address, chainId, expiresAt);
    return { token, address, expiresAt };
  }

  async authenticate(authorization: string | undefined): Promise<AuthUser | null> {
    const m = /^Bearer ([A-Za-z0-9_-]{20,100})$/.exec(authorization ?? '');
    if (!m) return null;
    const session = await this.repo.findSession(hashToken(m[1]));
    if (!session || session.chainId !== this.config.chainId) return null;
    return { address: session.address };
  }

  async logout(authorization: string | undefined): Promise<void> {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    if (m) await this.repo.deleteSession(hashToken(m[1]));
  }
}
