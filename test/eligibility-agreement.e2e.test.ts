import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnvilHandle, startAnvil, contracts } from '#devchain';
import { createProvider, mined } from '#chain';
import { StudyFeedRepository, StudyRepository, createDataSource } from '#db';
import { createTestDatabase, hex } from '#db/testing';
import { MODALITIES, URGENCIES, US_STATES, fromMask, CredentialTerms, credentialFromMasks, mayRead, seededRandom } from '#domain';
import { deployForTests } from './support/deploy.js';

/**
 * One eligibility rule, three spellings: the TypeScript rule (libs/domain mayRead), the SQL fragment every query
 * uses (libs/db eligibleSql, through the repositories that apply it) and CredentialRegistry.isEligible on chain.
 * Generated credentials (random state and modality masks, expiries on and around the checkpoints, some revoked,
 * some never attested) are written to the chain and to Postgres; at each checkpoint of chain time the three must
 * give the same answer for every radiologist and study tried.
 */
const rnd = seededRandom(12_2026);

interface Case {
  radiologist: string;
  statesMask: bigint;
  modalitiesMask: bigint;
  expiresAt: number;
  revoked: boolean;
  attested: boolean;
}

/** A random non-empty subset of `n` bits: sometimes one, sometimes a few, sometimes nearly all. */
function randomMask(n: number): bigint {
  const density = rnd.pick([0.05, 0.2, 0.5, 0.95]);
  let mask = 0n;
  for (let i = 0; i < n; i++) if (rnd.next() < density) mask |= 1n << BigInt(i);
  return mask === 0n ? 1n << BigInt(rnd.int(0, n - 1)) : mask;
}

describe('eligibility: the TypeScript rule, the SQL fragment and the contract agree', () => {
  let anvil: AnvilHandle;
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  beforeAll(async () => {
    [anvil, testDb] = await Promise.all([startAnvil(), createTestDatabase()]);
    ds = await createDataSource(testDb.url).initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await testDb?.drop();
    await anvil?.stop();
  });

  it('on generated credentials, studies and chain times', async () => {
    const provider = createProvider(anvil.rpcUrl);
    const { deployer, deployment } = await deployForTests(provider);
    const { registry } = contracts(deployment, deployer);
    await mined(registry.grantRole(await registry.VERIFIER_ROLE(), await deployer.getAddress()));
    const chainId = deployment.chainId;
    const t0 = (await provider.getBlock('latest'))!.timestamp;

    // credentials expiring on whole thousands of seconds after t0, so checkpoints fall before, on and after expiries
    const cases: Case[] = Array.from({ length: 24 }, (_, i) => ({
      radiologist: hex(0xe1e0_0000 + i, 20),
      statesMask: randomMask(US_STATES.length),
      modalitiesMask: randomMask(MODALITIES.length),
      expiresAt: t0 + 1000 * rnd.int(1, 5),
      revoked: rnd.next() < 0.25,
      attested: rnd.next() < 0.9,
    }));
    for (const c of cases.filter((c) => c.attested))
      await mined(registry.attest(c.radiologist, c.statesMask, c.modalitiesMask, c.expiresAt));
    for (const c of cases.filter((c) => c.attested && c.revoked)) await mined(registry.revoke(c.radiologist));
    const terms = new Map<string, CredentialTerms | null>(cases.map((c) => [c.radiologist, c.attested ? credentialFromMasks(c) : null]));

    // what the chain holds is what the rule is given
    for (const c of cases) {
      const onChain = await registry.credentialOf(c.radiologist);
      expect(c.attested ? credentialFromMasks(onChain) : Number(onChain.expiresAt)).toEqual(c.attested ? terms.get(c.radiologist) : 0);
    }

    // the same credentials in Postgres as the indexer projects them, one open study per (state, modality), and the
    // bounty parameters the worklist prices studies with
    for (const c of cases.filter((c) => c.attested))
      await ds.query(
        `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)`,
        [
          chainId,
          c.radiologist,
          fromMask(US_STATES, c.statesMask),
          fromMask(MODALITIES, c.modalitiesMask),
          c.expiresAt,
          c.revoked,
          hex(9, 20),
        ],
      );
    const studies = US_STATES.flatMap((patientState, si) =>
      MODALITIES.map((modality, mi) => ({ id: hex(0x5700_0000 + si * 16 + mi, 32), patientState, modality, si, mi })),
    );
    await ds.query(
      `INSERT INTO studies (chain_id, study_id, ro, modality, difficulty_bps, urgency, patient_state, max_bounty, posted_at, status, posted_tx, posted_block, updated_block)
       SELECT $1, id, $2, m, 10000, 'ROUTINE', st, 1000000, $3, 'OPEN', id, 1, 1 FROM unnest($4::text[], $5::text[], $6::text[]) AS v(id, st, m)`,
      [chainId, hex(2, 20), t0, studies.map((s) => s.id), studies.map((s) => s.patientState), studies.map((s) => s.modality)],
    );
    const params = [
      ...MODALITIES.map((_, k) => ['baseBounty', k, 100_000]),
      ...URGENCIES.map((_, k) => ['urgencyMultiplierBps', k, 10_000]),
      ['escalationBpsPerHour', 0, 0],
    ];
    for (const [name, key, value] of params)
      await ds.query(
        `INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash) VALUES ($1, $2, $3, $4, 1, $5)`,
        [chainId, name, key, value, hex(1, 32)],
      );
    const studyRepo = new StudyRepository(ds);
    const feed = new StudyFeedRepository(ds);

    const radiologists = cases.map((c) => c.radiologist);
    let admitted = 0;
    let refused = 0;
    for (const asOf of [t0 + 500, t0 + 1000, t0 + 1001, t0 + 2999, t0 + 3000, t0 + 4500, t0 + 5000, t0 + 6000]) {
      await provider.send('evm_setNextBlockTimestamp', [asOf]);
      await provider.send('evm_mine', []);
      const block = (await provider.getBlock('latest'))!;
      expect(block.timestamp).toBe(asOf);

      // the TypeScript rule against the SQL fragment, over every radiologist × study
      const sqlPairs = await feed.eligiblePairs(
        chainId,
        radiologists,
        studies.map((s) => s.id),
        asOf,
      );
      const tsPairs = new Set(
        radiologists.flatMap((r) => studies.filter((s) => mayRead(terms.get(r), s, asOf)).map((s) => `${r}:${s.id}`)),
      );
      expect([...sqlPairs].sort(), `eligiblePairs at t0+${asOf - t0}`).toEqual([...tsPairs].sort());
      admitted += tsPairs.size;
      refused += radiologists.length * studies.length - tsPairs.size;

      for (const r of radiologists) {
        // the worklist lists exactly the studies the rule admits
        const page = await studyRepo.worklist({ chainId, radiologist: r, asOf, sort: 'WAITING_DESC', limit: studies.length });
        expect(page.map((w) => w.studyId).sort(), `worklist of ${r} at t0+${asOf - t0}`).toEqual(
          studies
            .filter((s) => mayRead(terms.get(r), s, asOf))
            .map((s) => s.id)
            .sort(),
        );
        // the claim pre-check and the contract, on a sample: random studies and studies inside the credential's masks
        const c = cases.find((x) => x.radiologist === r)!;
        const inside = studies.filter(
          (s) => ((c.statesMask >> BigInt(s.si)) & 1n) === 1n && ((c.modalitiesMask >> BigInt(s.mi)) & 1n) === 1n,
        );
        const sample = [...Array.from({ length: 6 }, () => rnd.pick(studies)), ...Array.from({ length: 4 }, () => rnd.pick(inside))];
        for (const s of sample) {
          const expected = mayRead(terms.get(r), s, asOf);
          expect(
            await studyRepo.isEligible(chainId, r, s.id, asOf),
            `isEligible(${r}, ${s.patientState}/${s.modality}) at t0+${asOf - t0}`,
          ).toBe(expected);
          expect(
            await registry.isEligible(r, s.si, s.mi, { blockTag: block.number }),
            `CredentialRegistry.isEligible(${r}, ${s.patientState}/${s.modality}) at t0+${asOf - t0}`,
          ).toBe(expected);
        }
      }
    }
    // the generated cases exercise both answers
    expect(admitted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
