import { HDNodeWallet, Mnemonic } from 'ethers';
import { ANVIL_MNEMONIC } from '../../libs/chain/src/anvil.js';

/** anvil's well-known dev keys (public test keys: never use them on a real chain). */
export const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(ANVIL_MNEMONIC), `m/44'/60'/0'/0/${i}`);

/** The roles of the dev accounts in the local stack and in `npm run demo`. */
export const DEV_ACCOUNTS = [
  { index: 0, role: 'deployer, contract owner, credential verifier' },
  { index: 1, role: 'protocol treasury' },
  { index: 2, role: 'radiology organisation (funded with 100,000 tUSD)' },
  { index: 3, role: 'radiologist: after `npm run demo`, licensed CA/NY/TX for CT/MR/XR' },
  { index: 4, role: 'radiologist: after `npm run demo`, licensed FL/GA for XR/US/MG' },
  { index: 9, role: 'settler (sends settle / lease-release transactions)' },
  { index: 19, role: 'relayer (pays the gas of gasless claims and reports)' },
];
