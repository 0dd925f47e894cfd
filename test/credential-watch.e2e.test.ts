import { DataSource } from 'typeorm';
import { mined, createProvider, issuanceArgs, issueStudyId } from '#chain';
import { AnvilHandle, devKey, increaseTime, startAnvil, contracts, DEV_ROLES } from '#devchain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '#config';
import { CredentialRepository, StudyRepository, createDataSource } from '#db';
import { EventStore } from '#indexer-store';
import { IndexerPipeline } from '#indexer';
import { createTestDatabase } from '#db/testing';
import { modalityIndex, stateIndex, toMask } from '#domain';
import { CredentialWatchService } from '#settler';
import { deployForTests } from './support/deploy.js';

const DAY = 86_400;

describe('the credential watch', () => {
  let anvil: AnvilHandle;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  beforeAll(async () => {
    [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
    ds = await createDataSource(db.url).initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
    await anvil?.stop();
  });

  it('warns once per threshold ahead of expiry, then reports the lapse when chain and worklist both stop counting the credential', async () => {
    const provider = createProvider(anvil.rpcUrl);
    const { deployer, deployment } = await deployForTests(provider);
    const { registry, market, token } = contracts(deployment, deployer);
    await mined(registry.grantRole(await registry.VERIFIER_ROLE(), await deployer.getAddress()));
    const config = parseConfig({
      databaseUrl: db.url,
      rpcUrl: anvil.rpcUrl,
      chainId: deployment.chainId,
      contracts: { ...deployment },
      api: { siweDomain: 'openread.test', siweUri: 'https://openread.test' },
      indexer: {},
      bus: {},
      settler: { credentialWarnDays: [7, 30] },
    });
    const repo = new CredentialRepository(ds);
    const store = new EventStore(ds);
    const indexer = new IndexerPipeline(config, store);
    const index = async () => {
      const writer = (await store.tryWriter(config.chainId, indexer.stream))!;
      try {
        while (!(await indexer.step(writer)).caughtUp);
      } finally {
        await writer.release();
      }
    };
    const watch = new CredentialWatchService(config, repo);
    const radiologist = devKey(DEV_ROLES.radiologists[0]).address.toLowerCase();

    // a credential expiring in 40 days, attested on chain and projected by the event store as the indexer would
    const start = (await provider.getBlock('latest'))!.timestamp;
    const expiresAt = start + 40 * DAY;
    await mined(registry.attest(radiologist, toMask([stateIndex('NY')]), toMask([modalityIndex('CT')]), expiresAt));
    await index();
    await mined(token.mint(await deployer.getAddress(), 10n ** 9n));
    await mined(token.approve(deployment.market, 10n ** 9n));
    await mined(market.deposit(10n ** 9n));
    const studyId = '0x' + '11'.repeat(32);
    await mined(
      market.postStudy(
        studyId,
        modalityIndex('CT'),
        10_000,
        0,
        stateIndex('NY'),
        10n ** 8n,
        ...issuanceArgs(
          issueStudyId(
            devKey(DEV_ROLES.studyIdIssuer).privateKey,
            deployment.market,
            deployment.chainId,
            await deployer.getAddress(),
            studyId,
            4_000_000_000n,
          ),
        ),
      ),
    );
    await index();
    const studies = new StudyRepository(ds);
    const notices = () => repo.notificationsOf(deployment.chainId, radiologist, 50);

    expect(await watch.tick()).toEqual({ warned: 0, lapsed: 0 });

    await increaseTime(provider, 15 * DAY); // 25 days left: the 30-day notice
    expect(await watch.tick()).toEqual({ warned: 1, lapsed: 0 });
    expect(await watch.tick()).toEqual({ warned: 0, lapsed: 0 });
    expect((await notices())[0]).toMatchObject({ kind: 'CREDENTIAL_EXPIRING', message: expect.stringContaining('in 25 day(s)') });

    await increaseTime(provider, 20 * DAY); // 5 days left: the 7-day notice
    expect(await watch.tick()).toEqual({ warned: 1, lapsed: 0 });
    const now = (await provider.getBlock('latest'))!.timestamp;
    expect(await registry.isEligible(radiologist, stateIndex('NY'), modalityIndex('CT'))).toBe(true);
    expect(await studies.isEligible(deployment.chainId, radiologist, studyId, now)).toBe(true);

    await increaseTime(provider, 5 * DAY + 1); // lapsed: suspended by the expiry itself, in the contract and in SQL
    const after = (await provider.getBlock('latest'))!.timestamp;
    expect(after).toBeGreaterThan(expiresAt);
    expect(await registry.isEligible(radiologist, stateIndex('NY'), modalityIndex('CT'))).toBe(false);
    expect(await studies.isEligible(deployment.chainId, radiologist, studyId, after)).toBe(false);
    expect(await watch.tick()).toEqual({ warned: 0, lapsed: 1 });
    expect(await watch.tick()).toEqual({ warned: 0, lapsed: 0 });
    expect((await notices()).map((n) => n.kind)).toEqual(['CREDENTIAL_LAPSED', 'CREDENTIAL_EXPIRING', 'CREDENTIAL_EXPIRING']);

    // a second watch (another settler, or after a restart) sends nothing again
    expect(await new CredentialWatchService(config, repo).tick()).toEqual({ warned: 0, lapsed: 0 });
    await watch.onApplicationShutdown();
    provider.destroy();
  });
});
