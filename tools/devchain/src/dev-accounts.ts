import { HDNodeWallet, Mnemonic } from 'ethers';
import { ANVIL_MNEMONIC } from './anvil.js';

/** anvil's well-known dev keys (public test keys: never use them on a real chain). */
export const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`);

/**
 * Which dev account plays which role in `npm start`, `npm run demo`, the docs' journeys and the tests: the one place
 * that says so (scripts and tests read it instead of repeating account numbers).
 */
export const DEV_ROLES = {
  deployer: 0,
  verifier: 0,
  treasuryOwners: [1, 6, 7],
  roDepositor: 2,
  roBilling: [13, 2],
  radiologists: [3, 4],
  daoMembers: [3, 4, 5],
  governanceRelayer: 8,
  settler: 9,
  treasuryRelayer: 10,
  studyIdIssuer: 11,
  admin: 12,
  relayer: 19,
  /** No role in npm start or the test stack: tests give them one of their own (a second RO, readers racing a claim). */
  spare: [14, 15, 16, 17, 18],
} as const;

/** What `npm start` prints for each dev account. */
export const DEV_ACCOUNTS = [
  { index: 0, role: 'deployer and credential verifier (the deployment hands every owner and admin power to the DAO timelock)' },
  { index: 1, role: 'owner of the 2-of-3 treasury Safe (with #6 and #7) that collects protocol fees' },
  { index: 2, role: 'RO depositor and billing staff: after `npm run demo`, funds and posts for "Demo Imaging" (funded with 100,000 tUSD)' },
  { index: 3, role: 'radiologist: after `npm run demo`, licensed CA/NY/TX for CT/MR/XR; also a DAO member' },
  { index: 4, role: 'radiologist: after `npm run demo`, licensed FL/GA for XR/US/MG; also a DAO member' },
  { index: 5, role: 'DAO member (so are #3 and #4): proposes and votes on incentive parameters' },
  { index: 6, role: 'treasury Safe owner' },
  { index: 7, role: 'treasury Safe owner' },
  { index: 8, role: 'governance relayer (sends signed votes, queue and execute)' },
  { index: 9, role: 'settler (sends settle / lease-release transactions)' },
  { index: 10, role: 'treasury relayer (sends Safe payouts once the owners have signed)' },
  { index: 11, role: 'study-ID issuer: the API signs the random study IDs StudyMarket.postStudy accepts (holds no funds)' },
  { index: 12, role: 'platform admin (ADMIN_ADDRESSES, unless set otherwise): creates ROs and adds their staff' },
  { index: 13, role: 'RO billing staff: after `npm run demo`, reads the ledger, reconciliation and statements of "Demo Imaging"' },
  { index: 19, role: 'relayer (pays the gas of gasless claims, reports and withdrawals)' },
];
