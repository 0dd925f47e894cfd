import { Contract, NonceManager, type Provider } from 'ethers';
import { loadArtifact, mined, type SafeInfrastructure } from '#chain';
import { deployGovernance, deployOpenRead, contracts, type Deployment, type GovernanceDeployment } from './deploy.js';
import { DEV_ROLES, devKey } from './dev-accounts.js';
import { createSafe, deploySafeInfrastructure } from './safe.js';

export interface DevDeploymentOptions {
  /** address of the API's study-ID issuer key */
  studyIdIssuer: string;
  /** address of the settler's key: it anchors the access log (ANCHORER_ROLE) */
  settler: string;
  /** seconds (the DAO's local periods are short, so a local vote takes minutes, not days) */
  votingDelay: number;
  votingPeriod: number;
  timelockDelay: number;
  /**
   * exchange ROs to admit to RoDirectory before the hand-over (npm start: the dev RO its RO agent answers for): the
   * deployer takes ADMISSION_ROLE for these calls only and renounces it; afterwards the DAO admits ROs
   */
  exchangeRos?: { principal: string; encryptionKey: string; signer: string }[];
}

export interface DevDeployment {
  deployment: Deployment;
  governance: GovernanceDeployment;
  safeContracts: SafeInfrastructure;
  /** the RoDirectory key ID of each of `exchangeRos` (in their order) */
  exchangeKeyIds?: bigint[];
}

/**
 * The deployment `npm start` makes on its fresh anvil (one place, so the role audit in
 * test/deployment-roles.e2e.test.ts checks exactly it): Safe 1.4.1 and a 2-of-3 treasury Safe, the contracts, the
 * dev verifier and anchorer appointed and the RO depositor funded, then the DAO takes over every admin power.
 * After it the deployer holds no admin role and owns nothing (TestUSD included); on the dev chain its key is also
 * the credential verifier (DEV_ROLES.verifier), a role the DAO can revoke.
 */
export async function deployDevChain(provider: Provider, opts: DevDeploymentOptions): Promise<DevDeployment> {
  // Safe 1.4.1 at its canonical addresses; protocol fees go to a 2-of-3 Safe (a plain wallet, not the NonceManager:
  // deployOpenRead below sets explicit nonces, and the NonceManager must read its starting nonce after them)
  const safeDeployer = devKey(DEV_ROLES.deployer).connect(provider);
  const safeContracts = await deploySafeInfrastructure(safeDeployer);
  const treasury = await createSafe(
    safeDeployer,
    safeContracts,
    DEV_ROLES.treasuryOwners.map((i) => devKey(i).address),
    2,
    0n,
  );
  const deployer = new NonceManager(devKey(DEV_ROLES.deployer).connect(provider));
  const deployment = await deployOpenRead(deployer, { treasury, studyIdIssuer: opts.studyIdIssuer });
  const c = contracts(deployment, deployer);
  // appointed before the hand-over below: afterwards only a DAO proposal appoints verifiers and anchorers
  await mined(c.registry.grantRole(await c.registry.VERIFIER_ROLE(), devKey(DEV_ROLES.verifier).address));
  await mined(c.token.mint(devKey(DEV_ROLES.roDepositor).address, 100_000n * 10n ** 6n));
  const anchor = new Contract(deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, deployer);
  await mined(anchor.grantRole(await anchor.ANCHORER_ROLE(), opts.settler));
  const exchangeKeyIds: bigint[] = [];
  if (opts.exchangeRos?.length) {
    const directory = new Contract(deployment.roDirectory, loadArtifact('RoDirectory').abi, deployer);
    const admission = await directory.ADMISSION_ROLE();
    const self = await deployer.getAddress();
    await mined(directory.grantRole(admission, self));
    for (const ro of opts.exchangeRos) {
      const receipt = await mined(directory.admitRo(ro.principal, ro.encryptionKey, ro.signer));
      const added = receipt.logs.map((l) => directory.interface.parseLog(l)).find((p) => p?.name === 'RoKeyAdded');
      exchangeKeyIds.push(added!.args.keyId as bigint);
    }
    await mined(directory.renounceRole(admission, self));
  }
  const governance = await deployGovernance(deployer, deployment, {
    members: DEV_ROLES.daoMembers.map((i) => ({ address: devKey(i).address })),
    votingDelay: opts.votingDelay,
    votingPeriod: opts.votingPeriod,
    lateQuorumExtension: 60,
    timelockDelay: opts.timelockDelay,
    quorumPercent: 40,
    guardian: treasury, // the treasury Safe may cancel a queued timelock operation
  });
  // TestUSD stands in for an external stablecoin; its mint is the dev faucet, so it goes to the DAO as well (more
  // test money takes a proposal), and no EOA keeps any owner or admin power
  await mined(c.token.transferOwnership(governance.timelock));
  return { deployment, governance, safeContracts, ...(opts.exchangeRos?.length ? { exchangeKeyIds } : {}) };
}
