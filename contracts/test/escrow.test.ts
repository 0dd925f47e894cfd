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
import { computeBounty } from '#domain';
import { decodeThrownError, issuanceArgs } from '#chain';
import { increaseTime } from '#devchain';
import { ALL_MODALITIES, ALL_STATES, Status, USD, assertConserved, blockTimestamp, eventsOf, prng, send, startWorld, type World } from './fixture.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x0be4ead);
const STEPS = Number(process.env.FUZZ_STEPS ?? 200);
/** the full scan of every study (O(studies)) runs this often; the touched study and all balances every step */
const FULL_CHECK_EVERY = STEPS <= 500 ? 5 : 100;
const LEASE = 3600n;
const ACCEPTANCE = 3600n;
const CA = 4, NY = 34, TX = 43;
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

describe('escrow conservation', () => {
  it(`holds after every one of ${STEPS} seeded random actions, each of which succeeds or reverts as the model predicts`, async () => {
    const rnd = prng(SEED);
    const ros = w.wallets.slice(2, 5);
    const rads = w.wallets.slice(5, 9); // the last one has no credential
    const eligibility = new Map<string, { states: bigint; modalities: bigint }>([
      [rads[0].address, { states: ALL_STATES, modalities: ALL_MODALITIES }],
      [rads[1].address, { states: (1n << BigInt(CA)) | (1n << BigInt(NY)) | (1n << BigInt(TX)), modalities: 0b111n }],
      [rads[2].address, { states: 1n << BigInt(CA), modalities: ALL_MODALITIES }],
    ]);
    const farFuture = BigInt(Math.floor(Date.now() / 1000) + 10 * 365 * 86400);
    for (const [addr, e] of eligibility) await send(w.as(w.verifier).registry.attest(addr, e.states, e.modalities, farFuture));
    const arbiter = w.wallets[1];
    await send(w.c.market.setArbiter(arbiter.address));
    await send(w.c.parameters.setLeaseDuration(LEASE));
    await send(w.c.parameters.setAcceptanceWindow(ACCEPTANCE));
    for (const ro of ros) {
      await send(w.c.token.mint(ro.address, 100_000n * USD));
      await send(w.as(ro).token.approve(w.deployment.market, MaxUint256));
    }

    const everyone = [...ros, ...rads, w.treasury];
    const balances = new Map<string, bigint>(everyone.map((a) => [a.address, 0n]));
    const studies: ModelStudy[] = [];
    const counts: Record<string, number> = {};
    let now = BigInt((await w.provider.getBlock('latest'))!.timestamp);

    const eligible = (rad: string, s: ModelStudy) => {
      const e = eligibility.get(rad);
      return !!e && ((e.states >> BigInt(s.state)) & 1n) === 1n && ((e.modalities >> BigInt(s.modality)) & 1n) === 1n;
    };
    /** expected outcomes at the earliest and latest plausible timestamps (time-monotonic predicates) */
    const expectAt = (f: (ts: bigint) => Outcome): Set<Outcome> => new Set([f(now), f(now + SLACK)]);

    async function attempt(expected: Set<Outcome>, label: string, tx: () => Promise<TransactionReceipt>) {
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
      counts[`${label}:${outcome}`] = (counts[`${label}:${outcome}`] ?? 0) + 1;
      if (receipt) now = await blockTimestamp(w.provider, receipt.blockNumber);
      return receipt;
    }
    const credit = (a: string, v: bigint) => balances.set(a, (balances.get(a) ?? 0n) + v);
    /** a study the action applies to; 10% of the time any study, to exercise the wrong-status errors */
    const pickStudy = (pred: (s: ModelStudy) => boolean) => {
      const candidates = rnd.next() < 0.1 ? studies : studies.filter(pred);
      return candidates.length ? rnd.pick(candidates) : undefined;
    };
    const has = (st: bigint) => studies.some((x) => x.status === st);
    const chooseAction = () => {
      const weighted: [string, number][] = [['deposit', 2], ['post', 3], ['withdraw', 1], ['wait', 2]];
      if (has(Status.Open)) weighted.push(['claim', 4], ['cancel', 1]);
      if (has(Status.Claimed)) weighted.push(['report', 4], ['expire', 1], ['claim', 1]);
      if (has(Status.Reported)) weighted.push(['settle', 3], ['dispute', 1]);
      if (has(Status.Disputed)) weighted.push(['resolve', 2]);
      let r = rnd.next() * weighted.reduce((a, [, x]) => a + x, 0);
      for (const [a, x] of weighted) if ((r -= x) < 0) return a;
      return 'wait';
    };
    const live = (s: ModelStudy) => s.status !== Status.Settled && s.status !== Status.Cancelled;
    /** per RO: sum of maxBounty posted, and what left its escrow to others (payouts + fees) */
    const posted = new Map<string, bigint>();
    const lost = new Map<string, bigint>();
    const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
    /** applies a payment of `award` (≤ locked) and checks the per-study invariants */
    const pay = (s: ModelStudy, award: bigint, ev: Record<string, unknown>) => {
      expect(s.paid, `study ${s.id} paid twice`).toBeUndefined();
      const fee = (award * s.feeBps) / 10000n;
      expect([ev.payout, ev.fee, ev.refund]).toEqual([award - fee, fee, s.max - award]);
      expect(award - fee, 'radiologist gets at most locked − fee').toBeLessThanOrEqual(s.locked - (s.locked * s.feeBps) / 10000n);
      credit(s.radiologist!, award - fee);
      credit(w.treasury.address, fee);
      credit(s.ro, s.max - award);
      add(lost, s.ro, award);
      s.paid = award - fee;
      s.status = Status.Settled;
    };
    let touched: ModelStudy | undefined;

    for (let step = 0; step < STEPS; step++) {
      const action = step < 3 ? 'deposit' : chooseAction();
      touched = undefined;
      if (STEPS > 500 && step % 1000 === 0) process.stderr.write(`fuzz: step ${step}/${STEPS}, ${studies.length} studies\n`);
      switch (action) {
        case 'deposit': {
          const ro = rnd.pick(ros);
          const amount = rnd.big(1n, 500n * USD);
          const r = await attempt(new Set(['ok']), 'deposit', () => send(w.as(ro).market.deposit(amount)));
          if (r) credit(ro.address, amount);
          break;
        }
        case 'withdraw': {
          const who = rnd.pick(everyone);
          const bal = balances.get(who.address)!;
          const amount = rnd.next() < 0.2 ? bal + rnd.big(1n, USD) : rnd.big(0n, bal);
          const exp = amount === 0n ? 'ZeroAmount' : amount > bal ? 'InsufficientBalance' : 'ok';
          const r = await attempt(new Set([exp]), 'withdraw', () => send(w.as(who).market.withdraw(amount)));
          if (r) credit(who.address, -amount);
          break;
        }
        case 'post': {
          const ro = rnd.pick(ros);
          const s: ModelStudy = {
            id: keccakId(`random-study-${step}`),
            ro: ro.address,
            status: Status.Open,
            modality: rnd.int(0, 6),
            urgency: rnd.int(0, 2),
            state: rnd.pick([CA, CA, NY, TX, rnd.int(0, 50)]),
            difficulty: rnd.pick([1000, 10000, 100000, rnd.int(1000, 100000)]),
            max: rnd.next() < 0.2 ? rnd.big(1n, 1000n) : rnd.big(1n * USD, 300n * USD),
            postedAt: 0n, lease: 0n, deadline: 0n, locked: 0n, feeBps: 0n,
          };
          const exp = balances.get(ro.address)! >= s.max ? 'ok' : 'InsufficientBalance';
          const r = await attempt(new Set([exp]), 'post', () =>
            send(w.as(ro).market.postStudy(s.id, s.modality, s.difficulty, s.urgency, s.state, s.max, ...issuanceArgs(w.issue(ro.address, s.id)))),
          );
          if (r) {
            s.postedAt = now;
            studies.push(s);
            credit(ro.address, -s.max);
            add(posted, ro.address, s.max);
            touched = s;
          }
          break;
        }
        case 'claim': {
          const s = pickStudy((x) => x.status === Status.Open || x.status === Status.Claimed);
          if (!s) break;
          const fit = rads.filter((r) => eligible(r.address, s));
          const rad = fit.length && rnd.next() < 0.7 ? rnd.pick(fit) : rnd.pick(rads);
          const exp = expectAt((ts) => {
            const open = s.status === Status.Open || (s.status === Status.Claimed && ts > s.lease);
            if (!open) return 'StudyNotOpen';
            return eligible(rad.address, s) ? 'ok' : 'NotEligible';
          });
          touched = s;
          const r = await attempt(exp, 'claim', () => send(w.as(rad).market.claim(s.id)));
          if (r) {
            const ev = eventsOf(w.c, r, 'StudyClaimed')[0].args;
            const bounty = computeBounty({
              base: BASE[s.modality], difficultyBps: BigInt(s.difficulty), urgencyBps: URGENCY_BPS[s.urgency],
              escalationBpsPerHour: 500n, waitingSeconds: now - s.postedAt, maxBounty: s.max,
            });
            expect(ev.bounty).toBe(bounty);
            expect(eventsOf(w.c, r, 'LeaseExpired').length).toBe(s.status === Status.Claimed ? 1 : 0);
            Object.assign(s, { status: Status.Claimed, radiologist: rad.address, lease: now + LEASE, locked: bounty, feeBps: 500n });
          }
          break;
        }
        case 'report': {
          const s = pickStudy((x) => x.status === Status.Claimed);
          if (!s) break;
          const sender = rnd.next() < 0.85 && s.radiologist ? w.wallets.find((x) => x.address === s.radiologist)! : rnd.pick(rads);
          const exp = expectAt((ts) => {
            if (s.status !== Status.Claimed) return 'InvalidStatus';
            if (sender.address !== s.radiologist) return 'NotClaimant';
            return ts > s.lease ? 'LeaseHasExpired' : 'ok';
          });
          touched = s;
          const r = await attempt(exp, 'report', () => send(w.as(sender).market.submitReport(s.id, keccakId(`report-${step}`))));
          if (r) Object.assign(s, { status: Status.Reported, deadline: now + ACCEPTANCE });
          break;
        }
        case 'expire': {
          const s = pickStudy((x) => x.status === Status.Claimed);
          if (!s) break;
          const exp = expectAt((ts) => (s.status !== Status.Claimed ? 'InvalidStatus' : ts > s.lease ? 'ok' : 'LeaseNotExpired'));
          touched = s;
          const r = await attempt(exp, 'expire', () => send(w.as(rnd.pick(everyone)).market.releaseExpiredLease(s.id)));
          if (r) Object.assign(s, { status: Status.Open, radiologist: undefined, lease: 0n, locked: 0n, feeBps: 0n });
          break;
        }
        case 'dispute': {
          const s = pickStudy((x) => x.status === Status.Reported);
          if (!s) break;
          const sender = rnd.next() < 0.85 ? w.wallets.find((x) => x.address === s.ro)! : rnd.pick(ros);
          const exp = expectAt((ts) => {
            if (sender.address !== s.ro) return 'NotStudyOwner';
            if (s.status !== Status.Reported) return 'InvalidStatus';
            return ts >= s.deadline ? 'DisputeWindowClosed' : 'ok';
          });
          touched = s;
          const r = await attempt(exp, 'dispute', () => send(w.as(sender).market.dispute(s.id)));
          if (r) s.status = Status.Disputed;
          break;
        }
        case 'settle': {
          const s = pickStudy((x) => x.status === Status.Reported);
          if (!s) break;
          const exp = expectAt((ts) => (s.status !== Status.Reported ? 'InvalidStatus' : ts >= s.deadline ? 'ok' : 'DisputeWindowOpen'));
          const r = await attempt(exp, 'settle', () => send(w.as(rnd.pick(everyone)).market.settle(s.id)));
          if (r) pay(s, s.locked, eventsOf(w.c, r, 'StudySettled')[0].args);
          touched = s;
          break;
        }
        case 'resolve': {
          const s = pickStudy((x) => x.status === Status.Disputed);
          if (!s) break;
          const sender = rnd.next() < 0.85 ? rnd.pick([arbiter, w.owner]) : rnd.pick(ros);
          // award: full refund, full bounty, a split, or (sometimes) more than locked
          const award = rnd.pick([0n, s.locked, s.locked / 2n, rnd.big(0n, s.locked), s.locked + 1n]);
          const exp =
            sender !== arbiter && sender !== w.owner ? 'NotArbiter'
            : s.status !== Status.Disputed ? 'InvalidStatus'
            : award > s.locked ? 'AwardExceedsLockedBounty' : 'ok';
          const r = await attempt(new Set([exp]), 'resolve', () => send(w.as(sender).market.resolveDispute(s.id, award)));
          if (r) pay(s, award, eventsOf(w.c, r, 'DisputeResolved')[0].args);
          touched = s;
          break;
        }
        case 'cancel': {
          const s = pickStudy((x) => x.status === Status.Open);
          if (!s) break;
          const sender = rnd.next() < 0.85 ? w.wallets.find((x) => x.address === s.ro)! : rnd.pick(ros);
          const exp = sender.address !== s.ro ? 'NotStudyOwner' : s.status !== Status.Open ? 'InvalidStatus' : 'ok';
          const r = await attempt(new Set([exp]), 'cancel', () => send(w.as(sender).market.cancelStudy(s.id)));
          touched = s;
          if (r) {
            credit(s.ro, s.max);
            s.status = Status.Cancelled;
          }
          break;
        }
        case 'wait': {
          await increaseTime(w.provider, rnd.pick([60, 300, 900, 1800, 3600]));
          now = BigInt((await w.provider.getBlock('latest'))!.timestamp);
          break;
        }
      }

      // Every step: the token balance against the model's escrow, every account's balance, the touched study.
      const [chainBalances, held, chainTouched] = await Promise.all([
        Promise.all(everyone.map((a) => w.c.market.balanceOf(a.address) as Promise<bigint>)),
        w.c.token.balanceOf(w.deployment.market) as Promise<bigint>,
        touched ? w.c.market.getStudy(touched.id) : null,
      ]);
      const modelEscrow = studies.filter(live).reduce((a, x) => a + x.max, 0n);
      expect(chainBalances, `balances after step ${step} (${action})`).toEqual(everyone.map((a) => balances.get(a.address)));
      expect(chainBalances.reduce((a, b) => a + b, 0n) + modelEscrow, `conservation after step ${step} (${action})`).toBe(held);
      if (touched && chainTouched) expect([chainTouched.status, chainTouched.lockedBounty], `study after step ${step}`).toEqual([touched.status, touched.locked]);
      for (const ro of ros) expect(lost.get(ro.address) ?? 0n, 'an RO never loses more than it posted').toBeLessThanOrEqual(posted.get(ro.address) ?? 0n);

      // Periodically (every step in the short run): conservation from chain state alone, every study against the model.
      if (step % FULL_CHECK_EVERY === 0 || step === STEPS - 1) {
        const chainStudies = await Promise.all(studies.map((x) => w.c.market.getStudy(x.id)));
        const escrowed = chainStudies
          .filter((c) => c.status !== Status.Settled && c.status !== Status.Cancelled)
          .reduce((a, c) => a + (c.maxBounty as bigint), 0n);
        expect(chainBalances.reduce((a, b) => a + b, 0n) + escrowed, `chain-only conservation after step ${step}`).toBe(held);
        expect(chainStudies.map((c) => c.status), `statuses after step ${step}`).toEqual(studies.map((x) => x.status));
        expect(chainStudies.map((c) => c.lockedBounty)).toEqual(studies.map((x) => x.locked));
      }
    }
    // The sequence must actually exercise the lifecycle, not just revert.
    for (const k of ['post:ok', 'claim:ok', 'report:ok', 'settle:ok', 'cancel:ok', 'withdraw:ok', 'dispute:ok', 'resolve:ok']) {
      expect(counts[k] ?? 0, k).toBeGreaterThan(0);
    }
    // paid at most once, checked from the logs: one StudySettled or DisputeResolved per study, never more
    const paidLogs = [
      ...(await w.c.market.queryFilter(w.c.market.filters.StudySettled(), w.deployment.deployBlock)),
      ...(await w.c.market.queryFilter(w.c.market.filters.DisputeResolved(), w.deployment.deployBlock)),
    ].map((l) => (l as unknown as { args: { studyId: string } }).args.studyId);
    expect(new Set(paidLogs).size, 'each study paid at most once').toBe(paidLogs.length);
    expect(paidLogs.length).toBe(studies.filter((x) => x.paid !== undefined).length);
    await assertConserved(w, everyone.map((a) => a.address), studies.map((s) => s.id));
    console.log('random sequence outcomes:', JSON.stringify(counts), `studies: ${studies.length}`, `live: ${studies.filter(live).length}`);
  }, Math.max(120_000, STEPS * 250));
});
