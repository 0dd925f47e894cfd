import { computeAddress } from 'ethers';

/**
 * Addresses of the first 30 accounts of the mnemonic "test test … junk": anvil's and Hardhat's well-known dev
 * accounts, whose private keys are published. A key with one of these addresses is anyone's key. Listed here (not
 * derived from #devchain, which production code does not import); test/production-mode.test.ts checks that every
 * dev account of #devchain is in the list.
 */
export const WELL_KNOWN_DEV_ADDRESSES: ReadonlySet<string> = new Set([
  '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
  '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc',
  '0x90f79bf6eb2c4f870365e785982e1f101e93b906',
  '0x15d34aaf54267db7d7c367839aaf71a00a2c6a65',
  '0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc',
  '0x976ea74026e726554db657fa54763abd0c3a0aa9',
  '0x14dc79964da2c08b23698b3d3cc7ca32193d9955',
  '0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f',
  '0xa0ee7a142d267c1f36714e4a8f75612f20a79720',
  '0xbcd4042de499d14e55001ccbb24a551f3b954096',
  '0x71be63f3384f5fb98995898a86b02fb2426c5788',
  '0xfabb0ac9d68b0b445fb7357272ff202c5651694a',
  '0x1cbd3b2770909d4e10f157cabc84c7264073c9ec',
  '0xdf3e18d64bc6a983f673ab319ccae4f1a57c7097',
  '0xcd3b766ccdd6ae721141f452c550ca635964ce71',
  '0x2546bcd3c84621e976d8185a91a922ae77ecec30',
  '0xbda5747bfd65f08deb54cb465eb87d40e51b197e',
  '0xdd2fd4581271e230360230f9337d5c0430bf44c0',
  '0x8626f6940e2eb28930efb4cef49b2d1f2c9c1199',
  '0x09db0a93b389bef724429898f539aeb7ac2dd55f',
  '0x02484cb50aac86eae85610d6f4bf026f30f6627d',
  '0x08135da0a343e492fa2d4282f2ae34c6c5cc1bbe',
  '0x5e661b79fe2d3f6ce70f5aac07d8cd9abb2743f1',
  '0x61097ba76cd906d2ba4fd106e757f7eb455fc295',
  '0xdf37f81daad2b0327a0a50003740e1c935c70913',
  '0x553bc17a05702530097c3677091c5bb47a3a7931',
  '0x87bdce72c06c21cd96219bd8521bdf1f42c78b5e',
  '0x40fc963a729c542424cd800349a7e4ecc4896624',
  '0x9dcce783b6464611f38631e6c851bf441907c710',
]);

/** Chain IDs of local dev chains (anvil/Hardhat 31337, Ganache/geth --dev 1337): refused in production unless allowed. */
export const LOCAL_CHAIN_IDS: ReadonlySet<number> = new Set([31337, 1337]);

/**
 * The fewest INDEXER_CONFIRMATIONS production accepts: ROs seal study keys to a claim once it is indexed, so a claim
 * a reorg of fewer blocks undoes would have its key released to someone who no longer holds the claim.
 */
export const PRODUCTION_MIN_CONFIRMATIONS = 12;

/** A setting production refuses: where it is in AppConfig and what is expected instead. */
export interface ProductionProblem {
  path: PropertyKey[];
  message: string;
}

/** What production mode reads (a structural subset of AppConfig, so this file does not import config.ts). */
interface ProductionInput {
  chainId: number;
  allowLocalChainId?: 'true' | 'false';
  api: {
    siweDomain: string;
    siweUri: string;
    adminAddresses: string[];
    rateLimitClientKey?: string;
    cursorSecret?: string;
    studyIdIssuerPrivateKey?: string;
  };
  indexer: { confirmations: number };
  settler: { privateKey?: string };
  governance: { relayerPrivateKey?: string };
  relay: { privateKey?: string };
  treasury: { relayerPrivateKey?: string };
}

const LOCAL_HOST = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?|0\.0\.0\.0)$|\.localhost$/i;
/** the host of `host[:port]` or of a URL, lower-cased ('' when unparseable) */
function hostOf(domainOrUrl: string): string {
  try {
    return new URL(domainOrUrl.includes('://') ? domainOrUrl : `https://${domainOrUrl}`).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** The address of a 0x private key, lower-cased; null when it is not a valid secp256k1 key. */
function addressOfKey(key: string): string | null {
  try {
    return computeAddress(key).toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Every dev default still in effect, for `NODE_ENV=production` (docs/security.md#production-mode): each app refuses
 * to start with any of them, so a deployment cannot go live on settings meant for `npm start`.
 */
export function productionProblems(c: ProductionInput): ProductionProblem[] {
  const problems: ProductionProblem[] = [];
  const local = 'is a local address: in production (NODE_ENV=production) set the public host[:port] users sign in at';
  if (LOCAL_HOST.test(hostOf(c.api.siweDomain)) || !hostOf(c.api.siweDomain))
    problems.push({ path: ['api', 'siweDomain'], message: local });
  if (LOCAL_HOST.test(hostOf(c.api.siweUri)))
    problems.push({ path: ['api', 'siweUri'], message: local.replace('host[:port]', 'https:// origin') });
  else if (!/^https:\/\//i.test(c.api.siweUri))
    problems.push({
      path: ['api', 'siweUri'],
      message: 'must be an https:// origin in production: sign-in is only as safe as the page that asks for it',
    });
  if (c.indexer.confirmations < PRODUCTION_MIN_CONFIRMATIONS)
    problems.push({
      path: ['indexer', 'confirmations'],
      message: `must be at least ${PRODUCTION_MIN_CONFIRMATIONS} in production: study keys are released for indexed claims, and a reorg of fewer blocks would undo the claim`,
    });
  if (LOCAL_CHAIN_IDS.has(c.chainId) && c.allowLocalChainId !== 'true')
    problems.push({
      path: ['chainId'],
      message:
        'is a local dev chain: in production give the real chain ID (or set ALLOW_LOCAL_CHAIN_ID=true for a private chain that uses it)',
    });
  const keys: [PropertyKey[], string | undefined][] = [
    [['api', 'studyIdIssuerPrivateKey'], c.api.studyIdIssuerPrivateKey],
    [['settler', 'privateKey'], c.settler.privateKey],
    [['governance', 'relayerPrivateKey'], c.governance.relayerPrivateKey],
    [['relay', 'privateKey'], c.relay.privateKey],
    [['treasury', 'relayerPrivateKey'], c.treasury.relayerPrivateKey],
  ];
  for (const [path, key] of keys) {
    const address = key === undefined ? null : addressOfKey(key);
    if (address && WELL_KNOWN_DEV_ADDRESSES.has(address))
      problems.push({ path, message: `is a well-known dev key (anvil/Hardhat account ${address}, published): use a key of your own` });
  }
  c.api.adminAddresses.forEach((a, i) => {
    if (WELL_KNOWN_DEV_ADDRESSES.has(a))
      problems.push({
        path: ['api', 'adminAddresses', i],
        message: `names ${a}, a well-known dev account whose key is published: name your platform admins' own accounts`,
      });
  });
  const secret = (what: string) =>
    `is required in production (≥ 32 random characters, the same on every API instance): unset, each process makes up its own ${what}`;
  if (c.api.rateLimitClientKey === undefined)
    problems.push({ path: ['api', 'rateLimitClientKey'], message: secret('key, so instances do not share client buckets') });
  if (c.api.cursorSecret === undefined)
    problems.push({ path: ['api', 'cursorSecret'], message: secret("key, so one instance's worklist cursors fail on another") });
  return problems;
}
