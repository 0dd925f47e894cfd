import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { OpenReadError } from '../common/errors.js';
import type { WorklistSort } from './study.models.js';

/** A worklist position: the sort, the page's chain time (`asOf`), and the last row's keys. */
export interface WorklistCursor {
  s: WorklistSort;
  t: number;
  b: string;
  p: number;
  i: string;
}

const REFUSAL = 'after is not a current cursor from your worklist (and sort order)';

/**
 * Worklist cursors carry the chain time every later page is computed at (eligibility and bounties as of that time),
 * so a client must not choose it: the cursor is signed (HMAC-SHA256 over the radiologist and the position, under a
 * server secret), and even a genuine one is refused once its time is older than `maxAgeSeconds` (an old cursor would
 * show a credential that has since expired the worklist of its past) or later than the chain's now.
 */
export class WorklistCursors {
  private readonly secret: Buffer;

  constructor(
    secret: string | undefined,
    private readonly maxAgeSeconds: number,
  ) {
    this.secret = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  encode(radiologist: string, cursor: WorklistCursor): string {
    const body = Buffer.from(JSON.stringify(cursor)).toString('base64url');
    return `${body}.${this.mac(radiologist, body).toString('base64url')}`;
  }

  /** The position `raw` names, if this server signed it for `radiologist` and `sort` and its time is current; else BAD_INPUT. */
  decode(raw: string, radiologist: string, sort: WorklistSort, now: number): WorklistCursor {
    const [body, tag, extra] = raw.split('.');
    if (extra !== undefined || !body || !tag || body.length > 1024) throw this.refused();
    const expected = this.mac(radiologist, body);
    const given = Buffer.from(tag, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw this.refused();
    let c: WorklistCursor;
    try {
      c = JSON.parse(Buffer.from(body, 'base64url').toString()) as WorklistCursor;
    } catch {
      throw this.refused();
    }
    if (
      c?.s !== sort ||
      !Number.isSafeInteger(c.t) ||
      !Number.isSafeInteger(c.p) ||
      typeof c.i !== 'string' ||
      !/^0x[0-9a-f]{64}$/.test(c.i) ||
      typeof c.b !== 'string' ||
      !/^\d{1,78}$/.test(c.b)
    )
      throw this.refused();
    if (c.t > now || c.t < now - this.maxAgeSeconds)
      throw new OpenReadError('BAD_INPUT', 'after is too old (or from the future): fetch the worklist again from its first page', {
        reason: 'CURSOR_EXPIRED',
      });
    return c;
  }

  private mac(radiologist: string, body: string): Buffer {
    return createHmac('sha256', this.secret).update(`${radiologist.toLowerCase()}\n${body}`).digest().subarray(0, 16);
  }

  private refused(): OpenReadError {
    return new OpenReadError('BAD_INPUT', REFUSAL);
  }
}
