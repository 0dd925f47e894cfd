import { readFileSync, statSync } from 'node:fs';
import { Wallet, type Provider, type Signer } from 'ethers';
import { openSealed, roKeyContext, x25519PublicFromPrivate } from '#lease';

/**
 * What the agent needs of the RO's private keys, and all it may do with them: the X25519 key never leaves the
 * service (it opens the study keys sealed to the RO), the signer signs lease terms, the sender pays the gas of
 * grants, denials and expired-use records. `FileKeyService` reads them from a key file; an external key service
 * (an HSM, a KMS) replaces it by implementing this interface (the signers then delegate to it). Nothing here is
 * written to the database or the logs.
 */
export interface KeyService {
  /** the RO's X25519 public key (0x-hex): what the study keys in the holdings are sealed to */
  encryptionPublicKey(): string;
  /** opens a study key sealed to the RO's X25519 key for `studyId` (roKeyContext); throws DecryptionError */
  openStudyKey(studyId: string, sealed: Buffer): Buffer;
  /** the registered grant signer (signs the EIP-712 lease terms) */
  signer(): Signer;
  /** the account of the RO that sends its transactions, connected to `provider` */
  sender(provider: Provider): Signer;
}

/** The key file is missing, unreadable, too open or malformed: the agent refuses to start (exit 2). */
export class KeyFileError extends Error {}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;
const FIELDS = ['encryptionPrivateKey', 'signerPrivateKey', 'senderPrivateKey'] as const;

/** Keys from a JSON key file readable by its owner only (mode 0600 or stricter). Values are never echoed in errors. */
export class FileKeyService implements KeyService {
  private readonly encryptionPrivateKey: string;
  private readonly publicKey: string;
  private readonly signerWallet: Wallet;
  private readonly senderKey: string;

  constructor(path: string) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch (e) {
      throw new KeyFileError(`the key file ${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    // group or others may read (or write) it: the keys may already be copied; refuse rather than use them
    if (mode & 0o077)
      throw new KeyFileError(`the key file ${path} is mode ${(mode & 0o777).toString(8)}: it must be 600 (chmod 600 ${path})`);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new KeyFileError(code ? `the key file ${path} cannot be read: ${code}` : `the key file ${path} is not JSON`);
    }
    const bad = FIELDS.filter((f) => typeof parsed[f] !== 'string' || !PRIVATE_KEY.test(parsed[f]));
    if (bad.length) throw new KeyFileError(`the key file ${path} needs ${bad.join(', ')} (each a 0x-prefixed 32-byte hex key)`);
    this.encryptionPrivateKey = parsed.encryptionPrivateKey as string;
    this.publicKey = x25519PublicFromPrivate(this.encryptionPrivateKey);
    this.signerWallet = new Wallet(parsed.signerPrivateKey as string);
    this.senderKey = parsed.senderPrivateKey as string;
  }

  encryptionPublicKey(): string {
    return this.publicKey;
  }

  openStudyKey(studyId: string, sealed: Buffer): Buffer {
    return openSealed(this.encryptionPrivateKey, sealed, roKeyContext(studyId));
  }

  signer(): Signer {
    return this.signerWallet;
  }

  sender(provider: Provider): Signer {
    return new Wallet(this.senderKey, provider);
  }
}

/** The Nest token of the agent's KeyService (the module provides FileKeyService; a deployment may provide another). */
export const KEY_SERVICE = Symbol('KEY_SERVICE');
