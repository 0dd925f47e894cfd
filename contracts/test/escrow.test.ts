/**
 * Escrow conservation under a seeded random sequence of marketplace actions, checked against a model:
 *   sum(market balances of all accounts incl. treasury) + sum(maxBounty of studies not Settled/Cancelled)
 *     == token.balanceOf(market)
 * after every step, and every action succeeds or reverts exactly as the model predicts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaxUint256, id as keccakId, type HDNodeWallet, type TransactionReceipt } from 'ethers';
import { computeBounty } from '../../libs/domain/src/bounty.js';
import { decodeThrownError, increaseTime } from '../../libs/chain/src/index.js';
import { ALL_MODALITIES, ALL_STATES, Status, USD, assertConserved, blockTimestamp, eventsOf, prng, send, startWorld, type World } from './fixture.js';

const SEED = 0x0be4ead;
const STEPS = 200;
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
  it('holds after every one of 200 seeded random actions, each of which succeeds or reverts as the model predicts', async () => {
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
      let r = rnd.next() * weighted.reduce((a, [, x]) => a + x, 0);
      for (const [a, x] of weighted) if ((r -= x) < 0) return a;
      return 'wait';
    };
    const live = (s: ModelStudy) => s.status !== Status.Settled && s.status !== Status.Cancelled;

    for (let step = 0; step < STEPS; step++) {
      const action = step < 3 ? 'deposit' : chooseAction();
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
            send(w.as(ro).market.postStudy(s.id, s.modality, s.difficulty, s.urgency, s.state, s.max)),
          );
          if (r) {
            s.postedAt = now;
            studies.push(s);
            credit(ro.address, -s.max);
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
          const r = await attempt(exp, 'report', () => send(w.as(sender).market.submitReport(s.id, keccakId(`report-${step}`))));
          if (r) Object.assign(s, { status: Status.Reported, deadline: now + ACCEPTANCE });
          break;
        }
        case 'expire': {
          const s = pickStudy((x) => x.status === Status.Claimed);
          if (!s) break;
          const exp = expectAt((ts) => (s.status !== Status.Claimed ? 'InvalidStatus' : ts > s.lease ? 'ok' : 'LeaseNotExpired'));
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
          const r = await attempt(exp, 'dispute', () => send(w.as(sender).market.dispute(s.id)));
          if (r) s.status = Status.Disputed;
          break;
        }
        case 'settle': {
          const s = pickStudy((x) => x.status === Status.Reported);
          if (!s) break;
          const exp = expectAt((ts) => (s.status !== Status.Reported ? 'InvalidStatus' : ts >= s.deadline ? 'ok' : 'DisputeWindowOpen'));
          const r = await attempt(exp, 'settle', () => send(w.as(rnd.pick(everyone)).market.settle(s.id)));
          if (r) {
            const fee = (s.locked * s.feeBps) / 10000n;
            credit(s.radiologist!, s.locked - fee);
            credit(w.treasury.address, fee);
            credit(s.ro, s.max - s.locked);
            s.status = Status.Settled;
          }
          break;
        }
        case 'cancel': {
          const s = pickStudy((x) => x.status === Status.Open);
          if (!s) break;
          const sender = rnd.next() < 0.85 ? w.wallets.find((x) => x.address === s.ro)! : rnd.pick(ros);
          const exp = sender.address !== s.ro ? 'NotStudyOwner' : s.status !== Status.Open ? 'InvalidStatus' : 'ok';
          const r = await attempt(new Set([exp]), 'cancel', () => send(w.as(sender).market.cancelStudy(s.id)));
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

      // Conservation from chain state alone, then the chain against the model.
      const [chainBalances, chainStudies, held] = await Promise.all([
        Promise.all(everyone.map((a) => w.c.market.balanceOf(a.address) as Promise<bigint>)),
        Promise.all(studies.map((s) => w.c.market.getStudy(s.id))),
        w.c.token.balanceOf(w.deployment.market) as Promise<bigint>,
      ]);
      const escrowed = chainStudies
        .filter((c) => c.status !== Status.Settled && c.status !== Status.Cancelled)
        .reduce((a, c) => a + (c.maxBounty as bigint), 0n);
      expect(chainBalances.reduce((a, b) => a + b, 0n) + escrowed, `conservation after step ${step} (${action})`).toBe(held);
      expect(chainBalances, `balances after step ${step} (${action})`).toEqual(everyone.map((a) => balances.get(a.address)));
      expect(chainStudies.map((c) => c.status), `statuses after step ${step}`).toEqual(studies.map((s) => s.status));
      expect(chainStudies.map((c) => c.lockedBounty)).toEqual(studies.map((s) => s.locked));
    }
    // The sequence must actually exercise the lifecycle, not just revert.
    for (const k of ['post:ok', 'claim:ok', 'report:ok', 'settle:ok', 'cancel:ok', 'withdraw:ok']) expect(counts[k] ?? 0, k).toBeGreaterThan(0);
    await assertConserved(w, everyone.map((a) => a.address), studies.map((s) => s.id));
    console.log('random sequence outcomes:', JSON.stringify(counts), `studies: ${studies.length}`, `live: ${studies.filter(live).length}`);
  });
});
