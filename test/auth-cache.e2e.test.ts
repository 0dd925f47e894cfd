import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { createApiApp } from '#api';
import { Stack, startStack, waitFor } from './support/stack.js';
import { GqlClient } from './support/client.js';

/**
 * The API's in-process cache of sessions and roles (apps/api/src/auth/auth-cache.ts) with two API instances on one
 * database, as in production. The cache's lifetime is set to 10 minutes here, so that whatever stops working
 * within the test's waits does so because it was notified (LISTEN), not because an entry ran out.
 */
describe('session and role cache across API instances', () => {
  let stack: Stack;
  let b: INestApplication;
  let owner: pg.Client;
  const ME = `{ myNotifications { kind } }`;
  const CLAIMS = `{ myClaims { id } }`;

  beforeAll(async () => {
    stack = await startStack({ api: { authCacheMs: 600_000 } });
    b = await createApiApp(stack.config, { logger: undefined });
    await b.init();
    await b.listen(0, '127.0.0.1');
    owner = new pg.Client({ connectionString: stack.db.url });
    await owner.connect();
  });
  afterAll(async () => {
    await owner?.end();
    await b?.close();
    await stack?.stop();
  });

  /** a new account signed in on instance A, and the same session's client on B */
  async function signedIn(): Promise<{ a: GqlClient; onB: GqlClient; wallet: Wallet; token: string }> {
    const wallet = new Wallet(Wallet.createRandom().privateKey);
    const a = new GqlClient(stack.api);
    await a.signIn(wallet);
    const onB = new GqlClient(b);
    onB.token = a.token;
    return { a, onB, wallet, token: a.token! };
  }

  const hashOf = async (token: string) =>
    (await owner.query<{ h: string }>(`SELECT encode(sha256($1::bytea), 'hex') AS h`, [Buffer.from(token)])).rows[0].h;

  it('keeps a session in memory: deleted by hand (nothing notified), it is still served until the entry runs out', async () => {
    // what the cache saves, and the bound it relies on for changes no notification covers (API_AUTH_CACHE_MS)
    const { onB, token } = await signedIn();
    await onB.ok(ME);
    await owner.query(`DELETE FROM sessions WHERE token_hash = $1`, [await hashOf(token)]);
    expect(await onB.ok(ME)).toEqual({ myNotifications: [] });
    // a request to the other instance, which never cached it, reads Postgres
    const onA = new GqlClient(stack.api);
    onA.token = token;
    expect(await onA.code(ME)).toBe('UNAUTHENTICATED');
  });

  it('a logout on one instance ends the session on the other, which had it cached', async () => {
    const { a, onB } = await signedIn();
    await onB.ok(ME);
    await onB.ok(ME); // answered from B's cache
    expect((await a.ok(`mutation { logout }`)).logout).toBe(true);
    expect(await a.code(ME)).toBe('UNAUTHENTICATED'); // the instance that logged out: at once
    await waitFor(
      'instance B to refuse the logged-out session',
      async () => (await onB.send(ME)).errors?.[0].extensions?.code === 'UNAUTHENTICATED',
      10_000,
    );
  });

  it('a credential revoked in the index stops a cached radiologist on every instance', async () => {
    const { onB, wallet } = await signedIn();
    const address = wallet.address.toLowerCase();
    // as the indexer projects an attestation (the test's connection owns the tables)
    await owner.query(
      `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       VALUES ($1, $2, '{CA}', '{CT}', $3, false, $4, 1)`,
      [stack.config.chainId, address, Math.floor(Date.now() / 1000) + 86400, '0x' + '11'.repeat(20)],
    );
    expect(await onB.ok(CLAIMS)).toEqual({ myClaims: [] });
    expect(await onB.ok(CLAIMS)).toEqual({ myClaims: [] }); // roles from B's cache
    await owner.query(`UPDATE credentials SET revoked = true WHERE chain_id = $1 AND radiologist = $2`, [stack.config.chainId, address]);
    await waitFor(
      'instance B to refuse the revoked radiologist',
      async () => (await onB.send(CLAIMS)).errors?.[0].extensions?.code === 'FORBIDDEN',
      10_000,
    );
  });

  it('a role granted after a refusal counts at once: a cached role set never refuses', async () => {
    const { onB, wallet } = await signedIn();
    expect(await onB.code(CLAIMS)).toBe('FORBIDDEN');
    await onB.ok(ME);
    await owner.query(
      `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       VALUES ($1, $2, '{CA}', '{CT}', $3, false, $4, 1)`,
      [stack.config.chainId, wallet.address.toLowerCase(), Math.floor(Date.now() / 1000) + 86400, '0x' + '11'.repeat(20)],
    );
    expect(await onB.ok(CLAIMS)).toEqual({ myClaims: [] });
  });

  it('forgets everything when its notifications were interrupted: a change made meanwhile is not missed', async () => {
    const { onB, token } = await signedIn();
    await onB.ok(ME);
    const listeners = async () =>
      (
        await owner.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'openread-api-auth-listener'`)
      ).rows.map((r) => r.pid);
    const before = await listeners();
    expect(before.length).toBe(2); // A's and B's
    await owner.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'openread-api-auth-listener'`);
    // while nobody listens, the session goes (by hand: nothing would have been notified to anyone anyway)
    await owner.query(`DELETE FROM sessions WHERE token_hash = $1`, [await hashOf(token)]);
    await waitFor('both instances listening again', async () => {
      const now = await listeners();
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    });
    expect(await onB.code(ME)).toBe('UNAUTHENTICATED');
  });
});
