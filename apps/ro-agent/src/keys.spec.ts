import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { DecryptionError, encryptPayload, generateStudyKey, generateX25519KeyPair, roKeyContext, sealTo } from '#lease';
import { DirectoryHoldings } from './holdings.js';
import { FileKeyService, KeyFileError } from './keys.js';

describe('the agent key file and holdings directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'openread-agent-keys-'));
  const enc = generateX25519KeyPair();
  const signer = Wallet.createRandom();
  const sender = Wallet.createRandom();
  const good = { encryptionPrivateKey: enc.privateKey, signerPrivateKey: signer.privateKey, senderPrivateKey: sender.privateKey };
  const file = (name: string, content: string, mode = 0o600) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, mode);
    return path;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a missing, too open, malformed or incomplete key file, naming why and never a key', () => {
    const refusal = (path: string) => {
      try {
        new FileKeyService(path);
      } catch (e) {
        expect(e).toBeInstanceOf(KeyFileError);
        expect((e as Error).message).not.toContain(enc.privateKey.slice(2));
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refusal(join(dir, 'none.json'))).toContain('cannot be read: ENOENT');
    expect(refusal(file('open.json', JSON.stringify(good), 0o640))).toContain('is mode 640: it must be 600');
    expect(refusal(file('text.json', 'not json'))).toContain('is not JSON');
    expect(refusal(file('partial.json', JSON.stringify({ ...good, senderPrivateKey: 'x' })))).toContain('needs senderPrivateKey');
  });

  it('gives the signer and sender of the file and opens only study keys sealed to its X25519 key for that study', async () => {
    const keys = new FileKeyService(file('keys.json', JSON.stringify(good)));
    expect(keys.encryptionPublicKey()).toBe(enc.publicKey);
    expect(await keys.signer().getAddress()).toBe(signer.address);
    expect(await keys.sender(null as never).getAddress()).toBe(sender.address);

    const holdings = mkdtempSync(join(dir, 'holdings-'));
    const study = `0x${'ab'.repeat(32)}`;
    const other = `0x${'cd'.repeat(32)}`;
    const studyKey = generateStudyKey();
    const envelope = encryptPayload(Buffer.from('pixels'), studyKey, study);
    writeFileSync(join(holdings, `${study}.study`), envelope);
    writeFileSync(join(holdings, `${study}.key`), sealTo(enc.publicKey, studyKey, roKeyContext(study)));
    const held = new DirectoryHoldings(holdings, keys);
    expect(await held.study(study.toUpperCase().replace('0X', '0x'))).toEqual({ envelope, studyKey });
    expect(await held.study(other)).toBeNull(); // not held
    expect(await held.study('../keys')).toBeNull(); // not a study ID: no path outside the directory
    expect(await new DirectoryHoldings(undefined, keys).study(study)).toBeNull();
    // a study key sealed for another study does not open for this one
    writeFileSync(join(holdings, `${other}.study`), envelope);
    writeFileSync(join(holdings, `${other}.key`), sealTo(enc.publicKey, studyKey, roKeyContext(study)));
    await expect(held.study(other)).rejects.toBeInstanceOf(DecryptionError);
  });
});
