/**
 * Escrow invariants under a seeded random sequence of marketplace actions (deposit, post, claim, report, expire,
 * dispute, resolve, settle, cancel, withdraw, wait), checked against a model after every step:
 *   - conservation: sum(market balances incl. treasury) + sum(maxBounty of live studies) == token.balanceOf(market)
 *   - each study is paid at most once (one StudySettled / DisputeResolved, never both)
 *   - a radiologist never receives more than the locked bounty minus the fee
 *   - an RO never loses more than it posted (what left its escrow to others ≤ the sum of its maxBounty)
 * and every action succeeds or reverts exactly as the model predicts.
 * `npm test` runs 200 steps with a fixed seed; FUZZ_STEPS=10000 (and FUZZ_SEED) is the long mode (`npm run test:fuzz`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaxUint256, id as keccakId, type HDNodeWallet, type TransactionReceipt } from 'ethers';
import { computeBounty, MODALITIES, US_STATES, CredentialTerms, credentialFromMasks, mayRead } from '#domain';
import { decodeThrownError, issuanceArgs } from '#chain';
import { increaseTime } from '#devchain';
import {
  ALL_MODALITIES,
  ALL_STATES,
  Status,
  USD,
  assertConserved,
  blockTimestamp,
  eventsOf,
  prng,
  send,
  startWorld,
  type World,
} from './fixture.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x0be4ead);
const STEPS = Number(process.env.FUZZ_STEPS ?? 200);
/** the full scan of every study (O(studies)) runs this often; the touched study and all balances every step */
const FULL_CHECK_EVERY = STEPS <= 500 ? 5 : 100;
const LEASE = 3600n;
const ACCEPTANCE = 3600n;
const CA = 4,
  NY = 34,
  TX = 43;
const BASE = [10n, 40n, 60n, 20n, 25n, 50n, 80n].map((x) => x * USD);
const URGENCY_BPS = [10000n, 15000n, 25000n];
/** the next transaction is mined at a timestamp in [now, now + SLACK] */
const SLACK = 30n;

interface ModelStudy {
  id: string;
  ro: string;
  status: bigint;
  modality: number;
  urgency: number;
  state: number;
  difficulty: number;
  max: bigint;
  postedAt: bigint;
  radiologist?: string;
  lease: bigint;
  deadline: bigint;
  locked: bigint;
  feeBps: bigint;
  /** what the radiologist was credited (payout), set once when the study is paid */
  paid?: bigint;
}

type Outcome = 'ok' | string; // 'ok' or the expected error name

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.anvil.stop();
});

type Rng = ReturnType<typeof prng>;

/** The accounts of the run: three ROs, three credentialed radiologists and one without a credential, the arbiter. */
interface Cast {
  ros: HDNodeWallet[];
  rads: HDNodeWallet[];
  arbiter: HDNodeWallet;
  everyone: HDNodeWallet[];
  credentials: Map<string, CredentialTerms>;
}

/** Credentials, the arbiter, short lease and acceptance windows, and funded, approving ROs. */
async function setUpMarket(): Promise<Cast> {
  const ros = w.wallets.slice(2, 5);
  const rads = w.wallets.slice(5, 9); // the last one has no credential
  const farFuture = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
  const masks: [HDNodeWallet, bigint, bigint][] = [
    [rads[0], ALL_STATES, ALL_MODALITIES],
    [rads[1], (1n << BigInt(CA)) | (1n << BigInt(NY)) | (1n << BigInt(TX)), 0b111n],
    [rads[2], 1n << BigInt(CA), ALL_MODALITIES],
  ];
  const credentials = new Map<string, CredentialTerms>();
  for (const [rad, statesMask, modalitiesMask] of masks) {
    await send(w.as(w.verifier).registry.attest(rad.address, statesMask, modalitiesMask, farFuture));
    credentials.set(rad.address, credentialFromMasks({ statesMask, modalitiesMask, expiresAt: farFuture, revoked: false }));
  }
  const arbiter = w.wallets[1];
  await send(w.c.market.setArbiter(arbiter.address));
  await send(w.c.parameters.setLeaseDuration(LEASE));
  await send(w.c.parameters.setAcceptanceWindow(ACCEPTANCE));
  for (const ro of ros) {
    await send(w.c.token.mint(ro.address, 100_000n * USD));
    await send(w.as(ro).token.approve(w.deployment.market, MaxUint256));
  }
  return { ros, rads, arbiter, everyone: [...ros, ...rads, w.treasury], credentials };
}

/** What the chain should hold, as the run's model sees it, and what the run has done so far. */
class Model {
  readonly balances: Map<string, bigint>;
  readonly studies: ModelStudy[] = [];
  /** outcomes by `action:outcome` */
  readonly counts: Record<string, number> = {};
  /** per RO: sum of maxBounty posted, and what left its escrow to others (payouts + fees) */
  readonly posted = new Map<string, bigint>();
  readonly lost = new Map<string, bigint>();
  /** chain time of the last mined step */
  now = 0n;

  constructor(readonly cast: Cast) {
    this.balances = new Map(cast.everyone.map((a) => [a.address, 0n]));
  }

  credit(a: string, v: bigint) {
    this.balances.set(a, (this.balances.get(a) ?? 0n) + v);
  }

  add(m: Map<string, bigint>, k: string, v: bigint) {
    m.set(k, (m.get(k) ?? 0n) + v);
  }

  /** the rule CredentialRegistry.isEligible applies (libs/domain mayRead), at the model's chain time */
  eligible(rad: string, s: ModelStudy) {
    return mayRead(
      this.cast.credentials.get(rad),
      { patientState: US_STATES[s.state], modality: MODALITIES[s.modality] },
      Number(this.now),
    );
  }

  has(st: bigint) {
    return this.studies.some((x) => x.status === st);
  }

  /** expected outcomes at the earliest and latest plausible timestamps (time-monotonic predicates) */
  expectAt(f: (ts: bigint) => Outcome): Set<Outcome> {
    return new Set([f(this.now), f(this.now + SLACK)]);
  }

  /** applies a payment of `award` (≤ locked) and checks the per-study invariants */
  pay(s: ModelStudy, award: bigint, ev: Record<string, unknown>) {
    expect(s.paid, `study ${s.id} paid twice`).toBeUndefined();
    const fee = (award * s.feeBps) / 10000n;
    expect([ev.payout, ev.fee, ev.refund]).toEqual([award - fee, fee, s.max - award]);
    expect(award - fee, 'radiologist gets at most locked − fee').toBeLessThanOrEqual(s.locked - (s.locked * s.feeBps) / 10000n);
    this.credit(s.radiologist!, award - fee);
    this.credit(w.treasury.address, fee);
    this.credit(s.ro, s.max - award);
    this.add(this.lost, s.ro, award);
    s.paid = award - fee;
    s.status = Status.Settled;
  }
}

const live = (s: ModelStudy) => s.status !== Status.Settled && s.status !== Status.Cancelled;

/** Sends an action and checks that it succeeds or reverts as `expected`; the receipt if it succeeded. */
async function attempt(m: Model, expected: Set<Outcome>, label: string, tx: () => Promise<TransactionReceipt>) {
  let receipt: TransactionReceipt | undefined;
  let outcome: Outcome;
  try {
    receipt = await tx();
    outcome = 'ok';
  } catch (e) {
    const decoded = decodeThrownError(e);
    if (!decoded) throw e;
    outcome = decoded.name;
  }
  expect([...expected], `${label}: got ${outcome}`).toContain(outcome);
  m.counts[`${label}:${outcome}`] = (m.counts[`${label}:${outcome}`] ?? 0) + 1;
  if (receipt) m.now = await blockTimestamp(w.provider, receipt.blockNumber);
  return receipt;
}

function chooseAction(m: Model, rnd: Rng): ActionName {
  const weighted: [ActionName, number][] = [
    ['deposit', 2],
    ['post', 3],
    ['withdraw', 1],
    ['wait', 2],
  ];
  if (m.has(Status.Open)) weighted.push(['claim', 4], ['cancel', 1]);
  if (m.has(Status.Claimed)) weighted.push(['report', 4], ['expire', 1], ['claim', 1]);
  if (m.has(Status.Reported)) weighted.push(['settle', 3], ['dispute', 1]);
  if (m.has(Status.Disputed)) weighted.push(['resolve', 2]);
  let r = rnd.next() * weighted.reduce((a, [, x]) => a + x, 0);
  for (const [a, x] of weighted) if ((r -= x) < 0) return a;
  return 'wait';
}

/** One random action: sent, its outcome checked against the model, the model updated; returns the study it touched. */
type Action = (m: Model, rnd: Rng, step: number) => Promise<ModelStudy | undefined>;

/** a study the action applies to; 10% of the time any study, to exercise the wrong-status errors */
function pickStudy(m: Model, rnd: Rng, pred: (s: ModelStudy) => boolean) {
  const candidates = rnd.next() < 0.1 ? m.studies : m.studies.filter(pred);
  return candidates.length ? rnd.pick(candidates) : undefined;
}
const walletOf = (address: string) => w.wallets.find((x) => x.address === address)!;

const ACTIONS = {
  async deposit(m, rnd) {
    const ro = rnd.pick(m.cast.ros);
    const amount = rnd.big(1n, 500n * USD);
    const r = await attempt(m, new Set(['ok']), 'deposit', () => send(w.as(ro).market.deposit(amount)));
    if (r) m.credit(ro.address, amount);
    return undefined;
  },
  async withdraw(m, rnd) {
    const who = rnd.pick(m.cast.everyone);
    const bal = m.balances.get(who.address)!;
    const amount = rnd.next() < 0.2 ? bal + rnd.big(1n, USD) : rnd.big(0n, bal);
    const exp = amount === 0n ? 'ZeroAmount' : amount > bal ? 'InsufficientBalance' : 'ok';
    const r = await attempt(m, new Set([exp]), 'withdraw', () => send(w.as(who).market.withdraw(amount)));
    if (r) m.credit(who.address, -amount);
    return undefined;
  },
  async post(m, rnd, step) {
    const ro = rnd.pick(m.cast.ros);
    const s: ModelStudy = {
      id: keccakId(`random-study-${step}`),
      ro: ro.address,
      status: Status.Open,
      modality: rnd.int(0, 6),
      urgency: rnd.int(0, 2),
      state: rnd.pick([CA, CA, NY, TX, rnd.int(0, 50)]),
      difficulty: rnd.pick([1000, 10000, 100000, rnd.int(1000, 100000)]),
      max: rnd.next() < 0.2 ? rnd.big(1n, 1000n) : rnd.big(1n * USD, 300n * USD),
      postedAt: 0n,
      lease: 0n,
      deadline: 0n,
      locked: 0n,
      feeBps: 0n,
    };
    const exp = m.balances.get(ro.address)! >= s.max ? 'ok' : 'InsufficientBalance';
    const r = await attempt(m, new Set([exp]), 'post', () =>
      send(
        w.as(ro).market.postStudy(s.id, s.modality, s.difficulty, s.urgency, s.state, s.max, ...issuanceArgs(w.issue(ro.address, s.id))),
      ),
    );
    if (!r) return undefined;
    s.postedAt = m.now;
    m.studies.push(s);
    m.credit(ro.address, -s.max);
    m.add(m.posted, ro.address, s.max);
    return s;
  },
  async claim(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Open || x.status === Status.Claimed);
    if (!s) return undefined;
    const fit = m.cast.rads.filter((r) => m.eligible(r.address, s));
    const rad = fit.length && rnd.next() < 0.7 ? rnd.pick(fit) : rnd.pick(m.cast.rads);
    const exp = m.expectAt((ts) => {
      const open = s.status === Status.Open || (s.status === Status.Claimed && ts > s.lease);
      if (!open) return 'StudyNotOpen';
      return m.eligible(rad.address, s) ? 'ok' : 'NotEligible';
    });
    const r = await attempt(m, exp, 'claim', () => send(w.as(rad).market.claim(s.id)));
    if (r) {
      const ev = eventsOf(w.c, r, 'StudyClaimed')[0].args;
      const bounty = computeBounty({
        base: BASE[s.modality],
        difficultyBps: BigInt(s.difficulty),
        urgencyBps: URGENCY_BPS[s.urgency],
        escalationBpsPerHour: 500n,
        waitingSeconds: m.now - s.postedAt,
        maxBounty: s.max,
      });
      expect(ev.bounty).toBe(bounty);
      expect(eventsOf(w.c, r, 'LeaseExpired').length).toBe(s.status === Status.Claimed ? 1 : 0);
      Object.assign(s, { status: Status.Claimed, radiologist: rad.address, lease: m.now + LEASE, locked: bounty, feeBps: 500n });
    }
    return s;
  },
  async report(m, rnd, step) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Claimed);
    if (!s) return undefined;
    const sender = rnd.next() < 0.85 && s.radiologist ? walletOf(s.radiologist) : rnd.pick(m.cast.rads);
    const exp = m.expectAt((ts) => {
      if (s.status !== Status.Claimed) return 'InvalidStatus';
      if (sender.address !== s.radiologist) return 'NotClaimant';
      return ts > s.lease ? 'LeaseHasExpired' : 'ok';
    });
    const r = await attempt(m, exp, 'report', () => send(w.as(sender).market.submitReport(s.id, keccakId(`report-${step}`))));
    if (r) Object.assign(s, { status: Status.Reported, deadline: m.now + ACCEPTANCE });
    return s;
  },
  async expire(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Claimed);
    if (!s) return undefined;
    const exp = m.expectAt((ts) => (s.status !== Status.Claimed ? 'InvalidStatus' : ts > s.lease ? 'ok' : 'LeaseNotExpired'));
    const r = await attempt(m, exp, 'expire', () => send(w.as(rnd.pick(m.cast.everyone)).market.releaseExpiredLease(s.id)));
    if (r) Object.assign(s, { status: Status.Open, radiologist: undefined, lease: 0n, locked: 0n, feeBps: 0n });
    return s;
  },
  async dispute(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Reported);
    if (!s) return undefined;
    const sender = rnd.next() < 0.85 ? walletOf(s.ro) : rnd.pick(m.cast.ros);
    const exp = m.expectAt((ts) => {
      if (sender.address !== s.ro) return 'NotStudyOwner';
      if (s.status !== Status.Reported) return 'InvalidStatus';
      return ts >= s.deadline ? 'DisputeWindowClosed' : 'ok';
    });
    const r = await attempt(m, exp, 'dispute', () => send(w.as(sender).market.dispute(s.id)));
    if (r) s.status = Status.Disputed;
    return s;
  },
  async settle(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Reported);
    if (!s) return undefined;
    const exp = m.expectAt((ts) => (s.status !== Status.Reported ? 'InvalidStatus' : ts >= s.deadline ? 'ok' : 'DisputeWindowOpen'));
    const r = await attempt(m, exp, 'settle', () => send(w.as(rnd.pick(m.cast.everyone)).market.settle(s.id)));
    if (r) m.pay(s, s.locked, eventsOf(w.c, r, 'StudySettled')[0].args);
    return s;
  },
  async resolve(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Disputed);
    if (!s) return undefined;
    const { arbiter } = m.cast;
    const sender = rnd.next() < 0.85 ? rnd.pick([arbiter, w.owner]) : rnd.pick(m.cast.ros);
    // award: full refund, full bounty, a split, or (sometimes) more than locked
    const award = rnd.pick([0n, s.locked, s.locked / 2n, rnd.big(0n, s.locked), s.locked + 1n]);
    const exp =
      sender !== arbiter && sender !== w.owner
        ? 'NotArbiter'
        : s.status !== Status.Disputed
          ? 'InvalidStatus'
          : award > s.locked
            ? 'AwardExceedsLockedBounty'
            : 'ok';
    const r = await attempt(m, new Set([exp]), 'resolve', () => send(w.as(sender).market.resolveDispute(s.id, award)));
    if (r) m.pay(s, award, eventsOf(w.c, r, 'DisputeResolved')[0].args);
    return s;
  },
  async cancel(m, rnd) {
    const s = pickStudy(m, rnd, (x) => x.status === Status.Open);
    if (!s) return undefined;
    const sender = rnd.next() < 0.85 ? walletOf(s.ro) : rnd.pick(m.cast.ros);
    const exp = sender.address !== s.ro ? 'NotStudyOwner' : s.status !== Status.Open ? 'InvalidStatus' : 'ok';
    const r = await attempt(m, new Set([exp]), 'cancel', () => send(w.as(sender).market.cancelStudy(s.id)));
    if (r) {
      m.credit(s.ro, s.max);
      s.status = Status.Cancelled;
    }
    return s;
  },
  async wait(m, rnd) {
    await increaseTime(w.provider, rnd.pick([60, 300, 900, 1800, 3600]));
    m.now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
    return undefined;
  },
} satisfies Record<string, Action>;
type ActionName = keyof typeof ACTIONS;

/** Every step: the token balance against the model's escrow, every account's balance, the touched study, RO losses. */
async function checkStep(m: Model, step: number, action: ActionName, touched: ModelStudy | undefined): Promise<bigint[]> {
  const { everyone, ros } = m.cast;
  const [chainBalances, held, chainTouched] = await Promise.all([
    Promise.all(everyone.map((a) => w.c.market.balanceOf(a.address) as Promise<bigint>)),
    w.c.token.balanceOf(w.deployment.market) as Promise<bigint>,
    touched ? w.c.market.getStudy(touched.id) : null,
  ]);
  const modelEscrow = m.studies.filter(live).reduce((a, x) => a + x.max, 0n);
  expect(chainBalances, `balances after step ${step} (${action})`).toEqual(everyone.map((a) => m.balances.get(a.address)));
  expect(chainBalances.reduce((a, b) => a + b, 0n) + modelEscrow, `conservation after step ${step} (${action})`).toBe(held);
  if (touched && chainTouched)
    expect([chainTouched.status, chainTouched.lockedBounty], `study after step ${step}`).toEqual([touched.status, touched.locked]);
  for (const ro of ros)
    expect(m.lost.get(ro.address) ?? 0n, 'an RO never loses more than it posted').toBeLessThanOrEqual(m.posted.get(ro.address) ?? 0n);
  return chainBalances;
}

/** Conservation from chain state alone, and every study against the model (O(studies): run periodically). */
async function checkAllStudies(m: Model, step: number, chainBalances: bigint[]) {
  const [chainStudies, held] = await Promise.all([
    Promise.all(m.studies.map((x) => w.c.market.getStudy(x.id))),
    w.c.token.balanceOf(w.deployment.market) as Promise<bigint>,
  ]);
  const escrowed = chainStudies
    .filter((c) => c.status !== Status.Settled && c.status !== Status.Cancelled)
    .reduce((a, c) => a + (c.maxBounty as bigint), 0n);
  expect(chainBalances.reduce((a, b) => a + b, 0n) + escrowed, `chain-only conservation after step ${step}`).toBe(held);
  expect(
    chainStudies.map((c) => c.status),
    `statuses after step ${step}`,
  ).toEqual(m.studies.map((x) => x.status));
  expect(chainStudies.map((c) => c.lockedBounty)).toEqual(m.studies.map((x) => x.locked));
}

/** After the run: the lifecycle was exercised, each study was paid at most once (from the logs), and it all adds up. */
async function checkRun(m: Model) {
  for (const k of ['post:ok', 'claim:ok', 'report:ok', 'settle:ok', 'cancel:ok', 'withdraw:ok', 'dispute:ok', 'resolve:ok']) {
    expect(m.counts[k] ?? 0, k).toBeGreaterThan(0);
  }
  const paidLogs = [
    ...(await w.c.market.queryFilter(w.c.market.filters.StudySettled(), w.deployment.deployBlock)),
    ...(await w.c.market.queryFilter(w.c.market.filters.DisputeResolved(), w.deployment.deployBlock)),
  ].map((l) => (l as unknown as { args: { studyId: string } }).args.studyId);
  expect(new Set(paidLogs).size, 'each study paid at most once').toBe(paidLogs.length);
  expect(paidLogs.length).toBe(m.studies.filter((x) => x.paid !== undefined).length);
  await assertConserved(
    w,
    m.cast.everyone.map((a) => a.address),
    m.studies.map((s) => s.id),
  );
}

describe('escrow conservation', () => {
  it(
    `holds after every one of ${STEPS} seeded random actions, each of which succeeds or reverts as the model predicts`,
    async () => {
      const rnd = prng(SEED);
      const m = new Model(await setUpMarket());
      m.now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
      for (let step = 0; step < STEPS; step++) {
        const action: ActionName = step < 3 ? 'deposit' : chooseAction(m, rnd);
        if (STEPS > 500 && step % 1000 === 0) process.stderr.write(`fuzz: step ${step}/${STEPS}, ${m.studies.length} studies\n`);
        const touched = await ACTIONS[action](m, rnd, step);
        const chainBalances = await checkStep(m, step, action, touched);
        if (step % FULL_CHECK_EVERY === 0 || step === STEPS - 1) await checkAllStudies(m, step, chainBalances);
      }
      await checkRun(m);
      console.log(
        'random sequence outcomes:',
        JSON.stringify(m.counts),
        `studies: ${m.studies.length}`,
        `live: ${m.studies.filter(live).length}`,
      );
    },
    Math.max(120_000, STEPS * 250),
  );
});
