import { HDNodeWallet, Mnemonic } from 'ethers';
import { ANVIL_MNEMONIC } from './anvil.js';

/** anvil's well-known dev keys (public test keys: never use them on a real chain). */
export const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`);

/** The roles of the dev accounts in the local stack and in `npm run demo`. */
export const DEV_ACCOUNTS = [
  { index: 0, role: 'deployer, TestUSD owner, credential verifier (the DAO timelock owns parameters and market)' },
  { index: 1, role: 'owner of the 2-of-3 treasury Safe (with #6 and #7) that collects protocol fees' },
  { index: 2, role: 'radiology organisation (funded with 100,000 tUSD)' },
  { index: 3, role: 'radiologist: after `npm run demo`, licensed CA/NY/TX for CT/MR/XR' },
  { index: 4, role: 'radiologist: after `npm run demo`, licensed FL/GA for XR/US/MG' },
  { index: 5, role: 'DAO member (so are #3 and #4): proposes and votes on incentive parameters' },
  { index: 6, role: 'treasury Safe owner' },
  { index: 7, role: 'treasury Safe owner' },
  { index: 8, role: 'governance relayer (sends signed votes, queue and execute)' },
  { index: 9, role: 'settler (sends settle / lease-release transactions)' },
  { index: 19, role: 'relayer (pays the gas of gasless claims and reports)' },
  { index: 10, role: 'treasury relayer (sends Safe payouts once the owners have signed)' },
  { index: 11, role: "study-ID issuer: the API signs the random study IDs StudyMarket.postStudy accepts (holds no funds)" },
  { index: 12, role: 'platform admin (ADMIN_ADDRESSES, unless set otherwise): creates ROs and adds their staff' },
];
