/**
 * `npm run bench`: gas of the main calls on a fresh local chain, printed as a table with the targets of issue 4
 * (post ≤ 180k, settle ≤ 60k). Numbers, not assertions: speed and gas goals live here, not in timed tests.
 * The ≥ 10,000-step fuzz/invariant run is `npm run test:fuzz` (FUZZ_STEPS, FUZZ_SEED).
 */
import { printTable, worklistBench } from './bench/worklist.js';
import { HDNodeWallet, MaxUint256, Mnemonic, id as keccakId, type ContractTransactionResponse, type JsonRpcProvider } from 'ethers';
import {
  ANVIL_MNEMONIC,
  VOTE_SUPPORT,
  contracts,
  createProvider,
  deployGovernance,
  deployOpenRead,
  descriptionHash,
  governanceContracts,
  increaseTime,
  parameterProposal,
  signBallot,
  startAnvil,
} from '../libs/chain/src/index.js';

const USD = 1_000_000n;
const TARGETS: Record<string, number> = { postStudy: 180_000, settle: 60_000 };

async function gasBench(): Promise<{ call: string; gas: bigint; note: string }[]> {
  const anvil = await startAnvil();
  const provider: JsonRpcProvider = createProvider(anvil.rpcUrl);
  const rows: { call: string; gas: bigint; note: string }[] = [];
  try {
    const w = Array.from({ length: 10 }, (_, i) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`).connect(provider));
    const [owner, verifier, ro, rad, m1, m2, m3, relayer, , treasury] = w;
    const d = await deployOpenRead(owner, { treasury: treasury.address });
    const c = contracts(d, owner);
    const as = (x: HDNodeWallet) => contracts(d, x);
    const measure = async (call: string, tx: Promise<ContractTransactionResponse>, note = '') => {
      const receipt = await (await tx).wait();
      rows.push({ call, gas: receipt!.gasUsed, note });
    };
    await (await c.registry.grantRole(keccakId('VERIFIER_ROLE'), verifier.address)).wait();
    await (await as(verifier).registry.attest(rad.address, (1n << 51n) - 1n, (1n << 7n) - 1n, BigInt(Math.floor(Date.now() / 1000) + 86400 * 365))).wait();
    await (await c.token.mint(ro.address, 1_000_000n * USD)).wait();
    await (await as(ro).token.approve(d.market, MaxUint256)).wait();
    await (await as(ro).market.deposit(1n)).wait(); // warm the RO's balance slot, as in steady operation
    await measure('deposit', as(ro).market.deposit(10_000n * USD), 'RO balance already non-zero');

    const sid = (i: number) => keccakId(`bench-study-${i}`);
    // two rounds: the first credits zero balances (cold), the second is steady state
    for (const round of [0, 1]) {
      const note = round === 0 ? 'first study' : 'steady state';
      const id = sid(round);
      await measure(round ? 'postStudy' : 'postStudy (first)', as(ro).market.postStudy(id, 1, 15000, 1, 4, 100n * USD), note);
      await measure(round ? 'claim' : 'claim (first)', as(rad).market.claim(id), note);
      await measure(round ? 'submitReport' : 'submitReport (first)', as(rad).market.submitReport(id, keccakId(`report-${round}`)), note);
      await increaseTime(provider, 24 * 3600);
      await measure(round ? 'settle' : 'settle (first)', as(treasury).market.settle(id), round ? 'steady state: recipients hold balances' : 'first credit to zero balances');
    }
    await measure('withdraw', as(rad).market.withdraw(1n), 'partial: balance stays non-zero');
    await measure('withdraw (all)', as(treasury).market.withdraw(await c.market.balanceOf(treasury.address)), 'balance to zero (refund)');

    // dispute path
    const disputed = sid(9);
    await (await as(ro).market.postStudy(disputed, 1, 15000, 1, 4, 100n * USD)).wait();
    await (await as(rad).market.claim(disputed)).wait();
    await (await as(rad).market.submitReport(disputed, keccakId('r9'))).wait();
    await measure('dispute', as(ro).market.dispute(disputed));
    await measure('resolveDispute', c.market.resolveDispute(disputed, 30n * USD), 'by the owner; split');

    // governance
    const g = await deployGovernance(owner, d, {
      members: [m1, m2, m3].map((m) => ({ address: m.address })),
      votingDelay: 1, votingPeriod: 100, timelockDelay: 50, quorumPercent: 40,
    });
    await increaseTime(provider, 1);
    const gov = (x: HDNodeWallet) => governanceContracts(g, x).governor;
    const p = parameterProposal(d.parameters, [{ name: 'feeBps', value: 700n }]);
    await measure('propose', gov(m1).propose(p.targets, p.values, p.calldatas, 'fee 7%'), 'one parameter change');
    const pid = await gov(m1).hashProposal(p.targets, p.values, p.calldatas, descriptionHash('fee 7%'));
    await increaseTime(provider, 2);
    await measure('castVote', gov(m1).castVote(pid, VOTE_SUPPORT.FOR));
    const sig = await signBallot(m2, gov(m2), d.chainId, pid, VOTE_SUPPORT.FOR);
    await measure('castVoteBySig', gov(relayer).castVoteBySig(pid, VOTE_SUPPORT.FOR, m2.address, sig), 'paid by the relayer');
    await increaseTime(provider, 101);
    await measure('queue', gov(relayer).queue(p.targets, p.values, p.calldatas, descriptionHash('fee 7%')));
    await increaseTime(provider, 51);
    await measure('execute', gov(relayer).execute(p.targets, p.values, p.calldatas, descriptionHash('fee 7%')), 'sets feeBps via the timelock');
  } finally {
    provider.destroy();
    await anvil.stop();
  }
  return rows;
}

async function printGas() {
  const rows = await gasBench();
  const w = Math.max(...rows.map((r) => r.call.length));
  console.log(`\nGas (solc 0.8.x, optimizer 200 runs, cancun; anvil)\n`);
  console.log(`${'call'.padEnd(w)}  ${'gas'.padStart(9)}  ${'target'.padStart(9)}  note`);
  console.log(`${'-'.repeat(w)}  ${'-'.repeat(9)}  ${'-'.repeat(9)}  ----`);
  for (const r of rows) {
    const target = TARGETS[r.call];
    const mark = target === undefined ? '' : r.gas <= BigInt(target) ? ` ≤ ${target} ✓` : ` > ${target} ✗`;
    console.log(`${r.call.padEnd(w)}  ${r.gas.toString().padStart(9)}  ${(target ? String(target) : '').padStart(9)}  ${r.note}${mark}`);
  }
}

async function main() {
  await printGas();
  // worklist latency with 1,000,000 studies (needs the machine's Postgres: TEST_PG_URL)
  printTable(await worklistBench({ queries: Number(process.env.BENCH_QUERIES ?? 300) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
