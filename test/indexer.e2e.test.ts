import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NonceManager } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { IndexerModule } from '#indexer';
import { AnvilHandle, mine, startAnvil, Deployment, contracts, DEV_ROLES } from '#devchain';
import { createProvider, waitForReceipt } from '#chain';
import { AppConfig, parseConfig } from '#config';
import { createDataSource } from '#db';
import { createTestDatabase } from '#db/testing';
import { devWallet, waitFor } from './support/stack.js';
import { deployForTests } from './support/deploy.js';

describe('the indexer', () => {
  let anvil: AnvilHandle;
  let deployment: Deployment;
  let provider: ReturnType<typeof createProvider>;
  let token: ReturnType<typeof contracts>;
  let ro: ReturnType<typeof contracts>;
  const dbs: Awaited<ReturnType<typeof createTestDatabase>>[] = [];

  beforeAll(async () => {
    anvil = await startAnvil();
    provider = createProvider(anvil.rpcUrl);
    const deployed = await deployForTests(provider);
    const deployer = deployed.deployer;
    deployment = deployed.deployment;
    token = contracts(deployment, deployer);
    ro = contracts(deployment, new NonceManager(devWallet(DEV_ROLES.roDepositor, provider)));
    await waitForReceipt(provider, (await token.token.mint(devWallet(DEV_ROLES.roDepositor, provider).address, 10n ** 12n)).hash);
    await waitForReceipt(provider, (await ro.token.approve(deployment.market, 10n ** 12n)).hash);
  });
  afterAll(async () => {
    provider?.destroy();
    await anvil?.stop();
    for (const db of dbs) await db.drop();
  });

  async function configFor(confirmations: number, batchBlocks = 2000): Promise<{ config: AppConfig; db: DataSource }> {
    const testDb = await createTestDatabase();
    dbs.push(testDb);
    const config = parseConfig({
      databaseUrl: testDb.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: deployment,
      api: { siweDomain: 'openread.test', siweUri: 'https://openread.test' },
      indexer: { confirmations, pollMs: 50, batchBlocks, healthPort: 0 }, // a free port: other suites may hold the default
      settler: {},
      bus: { settlerPort: 1 }, // nobody listens: publishing fails quietly, indexing goes on
    });
    return { config, db: await createDataSource(testDb.url).initialize() };
  }
  const start = (config: AppConfig): Promise<INestApplicationContext> =>
    NestFactory.createApplicationContext(IndexerModule.forRoot(config), { logger: ['error'] });
  const deposit = async (amount: bigint) => waitForReceipt(provider, (await ro.market.deposit(amount)).hash);
  const count = async (db: DataSource) => Number((await db.query(`SELECT count(*) AS n FROM chain_events WHERE name = 'Deposited'`))[0].n);
  const sum = async (db: DataSource) =>
    BigInt((await db.query(`SELECT coalesce(sum(amount), 0) AS s FROM ledger_entries WHERE kind = 'DEPOSIT'`))[0].s);

  /** Waits until the indexer's checkpoint has reached `block` (it has polled a chain at least that high). */
  const indexedTo = (db: DataSource, block: number) =>
    waitFor(`the checkpoint at block ${block}`, async () => {
      const [cp] = await db.query(`SELECT block_number FROM indexer_checkpoints`);
      return cp && Number(cp.block_number) >= block;
    });

  it('resumes after a restart exactly where it stopped: nothing re-done, nothing skipped', async () => {
    const { config, db } = await configFor(0, 3); // small batches: a restart lands mid-history
    const before = await count(db);
    for (let i = 1n; i <= 5n; i++) await deposit(i);
    let app = await start(config);
    await waitFor('the first deposits', async () => (await count(db)) - before >= 5);
    await app.close();

    for (let i = 6n; i <= 12n; i++) await deposit(i);
    app = await start(config);
    await waitFor('all deposits', async () => (await count(db)) - before >= 12, 20_000);
    // one more pass over the whole history, which must change nothing: an empty block, and wait until it is indexed
    await mine(provider);
    await indexedTo(db, await provider.getBlockNumber());
    await app.close();

    const onChain = await provider.getLogs({
      address: deployment.market,
      topics: [ro.market.interface.getEvent('Deposited')!.topicHash],
      fromBlock: 0,
    });
    expect(await count(db)).toBe(onChain.length);
    expect(await sum(db)).toBe(onChain.reduce((s, l) => s + BigInt(ro.market.interface.parseLog(l)!.args.amount), 0n));
    const [{ dupes }] = await db.query(`SELECT count(*) - count(DISTINCT (tx_hash, log_index)) AS dupes FROM chain_events`);
    expect(Number(dupes)).toBe(0);
    await db.destroy();
  });

  it('indexes nothing until it has the configured number of confirmations', async () => {
    const { config, db } = await configFor(2);
    const app = await start(config);
    await mine(provider);
    await mine(provider); // everything before now has two confirmations
    const head = await provider.getBlockNumber();
    await indexedTo(db, head - 2); // the backlog
    const before = await count(db);
    await deposit(77n);
    await mine(provider);
    // the block before the deposit's has two confirmations now: once it is indexed, the indexer has seen the deposit
    await indexedTo(db, (await provider.getBlockNumber()) - 2);
    expect(await count(db)).toBe(before); // one confirmation only
    await mine(provider);
    await waitFor('the confirmed deposit', async () => (await count(db)) === before + 1);
    await app.close();
    await db.destroy();
  });
});
