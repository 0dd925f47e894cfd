/**
 * The on-chain bounty (StudyMarket.quoteBounty → BountyMath) must equal computeBounty in libs/domain for
 * every input: 6 parameter batches × 55 seeded random inputs, with edge cases (no wait, hour boundaries,
 * exactly at / around the cap, the hard parameter bounds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaxUint256 } from 'ethers';
import { computeBounty } from '#domain';
import { prng, send, startWorld, USD, type World } from './fixture.js';

const SEED = 20_240_611;
const PER_BATCH = 55;
const MAX_BASE = 10_000n * USD;

interface Params {
  label: string;
  escalation: bigint;
  urgency: [bigint, bigint, bigint];
  base: bigint[];
}

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.anvil.stop();
});

async function apply(p: Params) {
  const c = w.c.parameters;
  await send(c.setEscalationBpsPerHour(p.escalation));
  for (let i = 0; i < 3; i++) await send(c.setUrgencyMultiplierBps(i, p.urgency[i]));
  for (let m = 0; m < 7; m++) await send(c.setBaseBounty(m, p.base[m]));
}

describe('bounty agreement between BountyMath and libs/domain computeBounty', () => {
  const rnd = prng(SEED);
  const randomParams = (label: string): Params => ({
    label,
    escalation: rnd.big(0n, 10_000n),
    urgency: [rnd.big(10_000n, 50_000n), rnd.big(10_000n, 50_000n), rnd.big(10_000n, 50_000n)],
    base: Array.from({ length: 7 }, () => (rnd.next() < 0.15 ? rnd.big(0n, 1000n) : rnd.big(0n, MAX_BASE))),
  });
  const batches: Params[] = [
    {
      label: 'defaults',
      escalation: 500n,
      urgency: [10_000n, 15_000n, 25_000n],
      base: [10n, 40n, 60n, 20n, 25n, 50n, 80n].map((x) => x * USD),
    },
    { label: 'upper bounds', escalation: 10_000n, urgency: [50_000n, 50_000n, 50_000n], base: Array(7).fill(MAX_BASE) },
    { label: 'lower bounds', escalation: 0n, urgency: [10_000n, 10_000n, 10_000n], base: [0n, 1n, 2n, 3n, 999n, 1n, 0n] },
    randomParams('random 1'),
    randomParams('random 2'),
    randomParams('random 3'),
  ];

  let total = 0;
  for (const [b, params] of batches.entries()) {
    it(`agrees on ${PER_BATCH} inputs with ${params.label} parameters`, async () => {
      if (b > 0) await apply(params);
      else expect(await w.c.parameters.escalationBpsPerHour()).toBe(500n); // constructor defaults
      const cases = Array.from({ length: PER_BATCH }, (_, i) => {
        const modality = rnd.int(0, 6);
        const urgency = rnd.int(0, 2);
        const difficulty = BigInt(
          rnd.pick([1000, 10_000, 100_000, rnd.int(1000, 100_000), rnd.int(1000, 100_000), rnd.int(0, 2 ** 32 - 1)]),
        );
        const k = BigInt(rnd.int(1, 96));
        const waiting =
          i === 0
            ? 0n
            : rnd.pick([
                0n,
                1n,
                3599n,
                3600n,
                3601n,
                k * 3600n,
                k * 3600n - 1n,
                k * 3600n + 1n,
                rnd.big(0n, 30n * 86400n),
                10n * 365n * 86400n,
              ]);
        const inputs = {
          base: params.base[modality],
          difficultyBps: difficulty,
          urgencyBps: params.urgency[urgency],
          escalationBpsPerHour: params.escalation,
          waitingSeconds: waiting,
          maxBounty: MaxUint256,
        };
        const raw = computeBounty(inputs); // uncapped
        const maxBounty = rnd.pick([raw, raw + 1n, raw > 0n ? raw - 1n : 1n, 1n, rnd.big(1n, 500n * USD), (1n << 128n) - 1n, MaxUint256]);
        return { modality, urgency, difficulty, waiting, maxBounty, expected: computeBounty({ ...inputs, maxBounty }) };
      });
      const onChain = await Promise.all(
        cases.map((c) => w.c.market.quoteBounty(c.modality, c.difficulty, c.urgency, c.maxBounty, c.waiting) as Promise<bigint>),
      );
      for (const [i, c] of cases.entries())
        expect(
          onChain[i],
          JSON.stringify(c, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
        ).toBe(c.expected);
      const capped = cases.filter((c) => c.expected === c.maxBounty).length;
      expect(capped, 'some inputs hit the cap').toBeGreaterThan(0);
      total += cases.length;
    });
  }

  it('checked at least 300 inputs', () => {
    expect(total).toBeGreaterThanOrEqual(300);
  });
});
