import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StudyHoldings } from '#lease';
import type { KeyService } from './keys.js';

const STUDY_ID = /^0x[0-9a-f]{64}$/;

/**
 * The studies the RO holds, from a directory on its own premises: `<studyId>.study` is the study encrypted under
 * its study key (`encryptPayload`), `<studyId>.key` that study key sealed to the RO's X25519 key (`sealTo` with
 * `roKeyContext`). The directory holds no key in the clear: the key service opens the study key for the one grant
 * that needs it. A study without both files is not held (the agent denies its requests).
 */
export class DirectoryHoldings implements StudyHoldings {
  constructor(
    private readonly dir: string | undefined,
    private readonly keys: KeyService,
  ) {}

  async study(studyId: string): Promise<{ envelope: Buffer; studyKey: Buffer } | null> {
    const id = studyId.toLowerCase();
    if (!this.dir || !STUDY_ID.test(id)) return null;
    let envelope: Buffer, sealed: Buffer;
    try {
      [envelope, sealed] = await Promise.all([readFile(join(this.dir, `${id}.study`)), readFile(join(this.dir, `${id}.key`))]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return { envelope, studyKey: this.keys.openStudyKey(id, sealed) };
  }
}
