/**
 * Who holds power after `npm start`'s deployment (deployDevChain, on a fresh anvil like the launcher's): every role of
 * every contract, rebuilt from the chain's own events since block 0 (RoleGranted/RoleRevoked/RoleAdminChanged of
 * every AccessControl contract, OwnershipTransferred/OwnershipTransferStarted of every Ownable one), with no list of
 * contracts to forget one. No externally owned account may hold an admin role (DEFAULT_ADMIN_ROLE or any role that
 * administers another), own a contract or be about to (a pending Ownable2Step owner).
 */
import { Contract, Interface, ZeroHash, getAddress, id as keccakId, type JsonRpcProvider, type Log } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider, decodeThrownError, loadArtifact } from '#chain';
import { DEV_ROLES, deployDevChain, devKey, startAnvil, type AnvilHandle, type DevDeployment } from '#devchain';
import { generateX25519KeyPair } from '#lease';

const EVENTS = new Interface([
  'event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)',
  'event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender)',
  'event RoleAdminChanged(bytes32 indexed role, bytes32 indexed previousAdminRole, bytes32 indexed newAdminRole)',
  'event OwnershipTransferred(address indexed previousOwner, address indexed newOwner)',
  'event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner)',
]);

interface Powers {
  /** role → current holders */
  roles: Map<string, Set<string>>;
  /** role → its admin role, where RoleAdminChanged set one (else DEFAULT_ADMIN_ROLE) */
  adminOf: Map<string, string>;
  owner?: string;
  pendingOwner?: string;
}

/** Every contract's roles and owner as the events since block 0 leave them. */
async function powersFromEvents(provider: JsonRpcProvider): Promise<Map<string, Powers>> {
  const topics: string[][] = [[]];
  EVENTS.forEachEvent((e) => topics[0].push(e.topicHash));
  const logs: Log[] = await provider.getLogs({ fromBlock: 0, toBlock: 'latest', topics });
  const powers = new Map<string, Powers>();
  for (const log of logs) {
    const event = EVENTS.parseLog(log);
    if (!event) continue;
    const contract = getAddress(log.address);
    const p: Powers = powers.get(contract) ?? { roles: new Map(), adminOf: new Map() };
    powers.set(contract, p);
    const holders = (role: string) => p.roles.get(role) ?? p.roles.set(role, new Set()).get(role)!;
    if (event.name === 'RoleGranted') holders(event.args.role).add(getAddress(event.args.account));
    if (event.name === 'RoleRevoked') holders(event.args.role).delete(getAddress(event.args.account));
    if (event.name === 'RoleAdminChanged') p.adminOf.set(event.args.role, event.args.newAdminRole);
    if (event.name === 'OwnershipTransferStarted') p.pendingOwner = getAddress(event.args.newOwner);
    if (event.name === 'OwnershipTransferred') {
      p.owner = getAddress(event.args.newOwner);
      p.pendingOwner = undefined;
    }
  }
  return powers;
}

/** DEFAULT_ADMIN_ROLE and every role that administers another one. */
function adminRoles(p: Powers): Set<string> {
  return new Set([ZeroHash, ...[...p.roles.keys()].map((r) => p.adminOf.get(r) ?? ZeroHash), ...p.adminOf.values()]);
}

/** the dev exchange RO's grant signer (a fresh key each npm start) */
const outsiderSigner = getAddress(`0x${'5a'.repeat(20)}`);

describe("npm start's deployment leaves no admin power with any externally owned account", () => {
  let anvil: AnvilHandle;
  let provider: JsonRpcProvider;
  let dev: DevDeployment;
  beforeAll(async () => {
    anvil = await startAnvil({ args: ['--accounts', '20'] });
    provider = createProvider(anvil.rpcUrl);
    // what scripts/start.ts passes when no key or period is configured
    dev = await deployDevChain(provider, {
      studyIdIssuer: devKey(DEV_ROLES.studyIdIssuer).address,
      settler: devKey(DEV_ROLES.settler).address,
      votingDelay: 1,
      votingPeriod: 300,
      timelockDelay: 120,
      // the dev exchange RO npm start's agent answers for (admitted before the hand-over)
      exchangeRos: [
        { principal: devKey(DEV_ROLES.roDepositor).address, encryptionKey: generateX25519KeyPair().publicKey, signer: outsiderSigner },
      ],
    });
  });
  afterAll(async () => {
    provider?.destroy();
    await anvil?.stop();
  });

  it('finds, from the events since block 0, no EOA holding an admin role or ownership of any contract', async () => {
    const powers = await powersFromEvents(provider);
    const isEoa = async (a: string) => (await provider.getCode(a)) === '0x';
    const violations: string[] = [];
    for (const [contract, p] of powers) {
      for (const role of adminRoles(p))
        for (const holder of p.roles.get(role) ?? []) {
          // the events agree with the contract's own state
          expect(
            await new Contract(contract, ['function hasRole(bytes32, address) view returns (bool)'], provider).hasRole(role, holder),
          ).toBe(true);
          if (await isEoa(holder)) violations.push(`${contract}: admin role ${role} held by EOA ${holder}`);
        }
      if (p.owner && (await isEoa(p.owner))) violations.push(`${contract}: owned by EOA ${p.owner}`);
      if (p.pendingOwner && (await isEoa(p.pendingOwner))) violations.push(`${contract}: EOA ${p.pendingOwner} may accept ownership`);
    }
    expect(violations).toEqual([]);

    // and every contract with an owner or roles is accounted for: OpenRead's, each administered by the timelock
    const { deployment: d, governance: g } = dev;
    const timelock = getAddress(g.timelock);
    const summary = Object.fromEntries(
      [...powers].map(([contract, p]) => [
        contract,
        {
          owner: p.owner,
          roles: Object.fromEntries([...p.roles].filter(([, h]) => h.size).map(([role, h]) => [role, [...h].sort()])),
        },
      ]),
    );
    const owned = { owner: timelock, roles: {} };
    expect(summary).toEqual({
      [d.token]: owned,
      [d.parameters]: owned,
      [d.market]: owned,
      [d.studyCustody]: owned,
      [d.storageHolders]: owned,
      [d.researchPools]: owned,
      [getAddress(g.membership)]: owned,
      [d.roDirectory]: { owner: undefined, roles: { [ZeroHash]: [timelock] } },
      [d.registry]: {
        owner: undefined,
        roles: { [ZeroHash]: [timelock], [keccakId('VERIFIER_ROLE')]: [devKey(DEV_ROLES.verifier).address] },
      },
      [d.accessLogAnchor]: {
        owner: undefined,
        roles: { [ZeroHash]: [timelock], [keccakId('ANCHORER_ROLE')]: [devKey(DEV_ROLES.settler).address] },
      },
      [timelock]: {
        owner: undefined,
        roles: {
          [ZeroHash]: [timelock],
          [keccakId('PROPOSER_ROLE')]: [getAddress(g.governor)],
          [keccakId('EXECUTOR_ROLE')]: [getAddress(g.governor)],
          [keccakId('CANCELLER_ROLE')]: [getAddress(g.governor), d.treasury].sort(),
        },
      },
    });
  });

  it('refuses the former deployer key a new verifier, anchorer or test money on the real chain', async () => {
    const deployer = devKey(DEV_ROLES.deployer).connect(provider);
    const registry = new Contract(dev.deployment.registry, loadArtifact('CredentialRegistry').abi, deployer);
    const anchor = new Contract(dev.deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, deployer);
    const token = new Contract(dev.deployment.token, loadArtifact('TestUSD').abi, deployer);
    const directory = new Contract(dev.deployment.roDirectory, loadArtifact('RoDirectory').abi, deployer);
    const refusal = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (e) {
        return decodeThrownError(e);
      }
      throw new Error('the call went through');
    };
    const outsider = devKey(DEV_ROLES.spare[0]).address;
    for (const [contract, role] of [
      [registry, keccakId('VERIFIER_ROLE')],
      [anchor, keccakId('ANCHORER_ROLE')],
      [registry, ZeroHash],
      [directory, keccakId('ADMISSION_ROLE')],
    ] as const) {
      expect(await refusal(() => contract.grantRole(role, outsider))).toMatchObject({
        name: 'AccessControlUnauthorizedAccount',
        args: [deployer.address, ZeroHash],
      });
    }
    expect(await refusal(() => token.mint(outsider, 1n))).toMatchObject({ name: 'OwnableUnauthorizedAccount', args: [deployer.address] });
    // the dev verifier and anchorer were appointed before the hand-over and keep their roles
    expect(await registry.hasRole(keccakId('VERIFIER_ROLE'), devKey(DEV_ROLES.verifier).address)).toBe(true);
    expect(await anchor.hasRole(keccakId('ANCHORER_ROLE'), devKey(DEV_ROLES.settler).address)).toBe(true);
    // the deployer admitted the dev exchange RO and renounced the admission role: the DAO admits the next
    expect(await directory.isActive(devKey(DEV_ROLES.roDepositor).address)).toBe(true);
    expect(await directory.hasRole(keccakId('ADMISSION_ROLE'), deployer.address)).toBe(false);
  });
});
