import {
  Contract,
  ContractFactory,
  ZeroAddress,
  ZeroHash,
  getAddress,
  type ContractRunner,
  type ContractTransactionResponse,
  type Signer,
} from 'ethers';
import { loadArtifact, waitForReceipt } from '#chain';

export interface Deployment {
  chainId: number;
  /** block of the first deployment transaction: where indexers start */
  deployBlock: number;
  token: string;
  parameters: string;
  registry: string;
  market: string;
  treasury: string;
  /** signs the study IDs StudyMarket.postStudy accepts (issueStudyId); the API holds its key */
  studyIdIssuer: string;
  /** AccessLogAnchor: the study access log's hash chain head, anchored periodically */
  accessLogAnchor: string;
  /** OpenReadForwarder: the ERC-2771 forwarder StudyMarket trusts (gasless claims and reports) */
  forwarder: string;
  /** RoDirectory: the exchange's ROs, their accounts and keys (admission by ADMISSION_ROLE, appointed by the DAO) */
  roDirectory: string;
  /** StudyCustody: study custody and RO-to-RO leases with retrieval fees */
  studyCustody: string;
  /** StorageHolders: storage holders' stakes, replica assignment, on-chain storage proofs and per-period pay */
  storageHolders: string;
  /** PatientLinks: study-to-patient link commitments and the patient's revocation of custody (docs/patients.md) */
  patientLinks: string;
  /** ResearchPools: governed research pools, patient consent, purchases, releases, Merkle-distributed compensation */
  researchPools: string;
}

export interface DeployOptions {
  /** owner of TestUSD / IncentiveParameters / StudyMarket / StudyCustody and admin of CredentialRegistry / AccessLogAnchor / RoDirectory; default: deployer */
  owner?: string;
  treasury: string;
  /**
   * StudyMarket's study-ID issuer: the address of the key the API signs study IDs with (STUDY_ID_ISSUER_PRIVATE_KEY).
   * Required: posting fails closed, and there is no sensible default (the deployer's key should not sit in the API).
   */
  studyIdIssuer: string;
  /**
   * An ERC-20 already on the chain (a real stablecoin) the market and custody pay in; no TestUSD is deployed then.
   * Unset: a fresh, mintable TestUSD (the dev chain's faucet): never on a real chain.
   */
  token?: string;
  /** StorageHolders' period (seconds between storage challenges, 1 h – 30 days); default one day */
  storagePeriod?: number;
  /** ResearchPools' distributor (publishes each epoch's compensation root besides the owner); default: none */
  poolDistributor?: string;
}

const ERC20_PROBE = [
  'function totalSupply() view returns (uint256)',
  'function balanceOf(address) view returns (uint256)',
  'function decimals() view returns (uint8)',
];

/** Refuses an address that is not a deployed ERC-20 (no code, or no totalSupply/balanceOf/decimals answers). */
async function existingToken(provider: NonNullable<Signer['provider']>, address: string): Promise<string> {
  const token = getAddress(address);
  if ((await provider.getCode(token)) === '0x') throw new Error(`deployOpenRead: no contract at the token address ${token}`);
  const erc20 = new Contract(token, ERC20_PROBE, provider);
  try {
    await Promise.all([erc20.totalSupply(), erc20.balanceOf(ZeroAddress), erc20.decimals()]);
  } catch {
    throw new Error(`deployOpenRead: ${token} does not answer ERC-20 totalSupply/balanceOf/decimals`);
  }
  return token;
}

/**
 * Deploys TestUSD (unless `opts.token` names an existing ERC-20), IncentiveParameters, CredentialRegistry, OpenReadForwarder, StudyMarket, AccessLogAnchor, RoDirectory and
 * StudyCustody, StorageHolders, PatientLinks and ResearchPools, in that order, with explicit consecutive nonces, waiting
 * for each receipt; then (when the deployer is the owner) StudyCustody.setPatientLinks: otherwise the owner makes that call.
 */
export async function deployOpenRead(deployer: Signer, opts: DeployOptions): Promise<Deployment> {
  const provider = deployer.provider;
  if (!provider) throw new Error('deployOpenRead: the deployer signer needs a provider');
  const from = await deployer.getAddress();
  const owner = getAddress(opts.owner ?? from);
  const treasury = getAddress(opts.treasury);
  const studyIdIssuer = getAddress(opts.studyIdIssuer);
  const { chainId } = await provider.getNetwork();
  let nonce = await provider.getTransactionCount(from, 'pending');

  let deployBlock = -1;
  const deploy = async (name: string, args: unknown[]): Promise<string> => {
    const { abi, bytecode } = loadArtifact(name);
    const factory = new ContractFactory(abi, bytecode, deployer);
    const contract = await factory.deploy(...args, { nonce: nonce++ });
    const tx = contract.deploymentTransaction();
    const receipt = tx ? await waitForReceipt(provider, tx.hash) : null;
    if (!receipt || receipt.status !== 1) throw new Error(`deployment of ${name} failed (tx ${tx?.hash})`);
    if (deployBlock < 0) deployBlock = receipt.blockNumber;
    return getAddress(await contract.getAddress());
  };

  const token = opts.token === undefined ? await deploy('TestUSD', [owner]) : await existingToken(provider, opts.token);
  const parameters = await deploy('IncentiveParameters', [owner]);
  const registry = await deploy('CredentialRegistry', [owner]);
  const forwarder = await deploy('OpenReadForwarder', []);
  const market = await deploy('StudyMarket', [token, parameters, registry, treasury, owner, forwarder, studyIdIssuer]);
  const accessLogAnchor = await deploy('AccessLogAnchor', [owner]);
  const roDirectory = await deploy('RoDirectory', [owner]);
  const studyCustody = await deploy('StudyCustody', [token, roDirectory, market, treasury, owner]);
  const storageHolders = await deploy('StorageHolders', [token, studyCustody, opts.storagePeriod ?? 86400, treasury, owner]);
  const patientLinks = await deploy('PatientLinks', [studyCustody]);
  const poolDistributor = opts.poolDistributor === undefined ? ZeroAddress : getAddress(opts.poolDistributor);
  const researchPools = await deploy('ResearchPools', [token, patientLinks, treasury, poolDistributor, owner]);
  if (owner === getAddress(from)) {
    const custody = new Contract(studyCustody, loadArtifact('StudyCustody').abi, deployer);
    const sent = (await custody.setPatientLinks(patientLinks, { nonce: nonce++ })) as ContractTransactionResponse;
    const receipt = await waitForReceipt(provider, sent.hash);
    if (!receipt || receipt.status !== 1) throw new Error(`StudyCustody.setPatientLinks failed (tx ${sent.hash})`);
  }
  return {
    chainId: Number(chainId),
    deployBlock,
    token,
    parameters,
    registry,
    market,
    treasury,
    studyIdIssuer,
    accessLogAnchor,
    forwarder,
    roDirectory,
    studyCustody,
    storageHolders,
    patientLinks,
    researchPools,
  };
}

/**
 * The environment variables naming a deployment's chain and contracts, as every app reads them (docs/configuration.md):
 * one list for the launcher and every test that starts an app as its own process, so a contract added to the
 * deployment reaches all of them (an indexer started without one silently indexes less).
 */
export function contractsEnv(deployment: Deployment): Record<string, string> {
  return {
    CHAIN_ID: String(deployment.chainId),
    TOKEN_ADDRESS: deployment.token,
    PARAMETERS_ADDRESS: deployment.parameters,
    REGISTRY_ADDRESS: deployment.registry,
    MARKET_ADDRESS: deployment.market,
    ACCESS_LOG_ANCHOR_ADDRESS: deployment.accessLogAnchor,
    FORWARDER_ADDRESS: deployment.forwarder,
    RO_DIRECTORY_ADDRESS: deployment.roDirectory,
    STUDY_CUSTODY_ADDRESS: deployment.studyCustody,
    STORAGE_HOLDERS_ADDRESS: deployment.storageHolders,
    PATIENT_LINKS_ADDRESS: deployment.patientLinks,
    RESEARCH_POOLS_ADDRESS: deployment.researchPools,
    DEPLOY_BLOCK: String(deployment.deployBlock),
  };
}

export interface OpenReadContracts {
  token: Contract;
  parameters: Contract;
  registry: Contract;
  market: Contract;
}

/** ethers Contract instances of a deployment, connected to `runner` (a signer or a provider). */
export function contracts(
  deployment: Pick<Deployment, 'token' | 'parameters' | 'registry' | 'market'>,
  runner: ContractRunner | null,
): OpenReadContracts {
  return {
    token: new Contract(deployment.token, loadArtifact('TestUSD').abi, runner),
    parameters: new Contract(deployment.parameters, loadArtifact('IncentiveParameters').abi, runner),
    registry: new Contract(deployment.registry, loadArtifact('CredentialRegistry').abi, runner),
    market: new Contract(deployment.market, loadArtifact('StudyMarket').abi, runner),
  };
}

export interface GovernanceOptions {
  /** initial DAO members and their votes (default 1e18 each: one member, one vote) */
  members: { address: string; votes?: bigint }[];
  /** seconds between proposing and the start of voting (default 1 hour) */
  votingDelay?: number;
  /** seconds of voting (default 3 days) */
  votingPeriod?: number;
  /** votes needed to propose (default 1e18: any member) */
  proposalThreshold?: bigint;
  /** quorum, percent of the total votes at the proposal's snapshot (default 10) */
  quorumPercent?: number;
  /** seconds the deadline moves out when quorum is reached late (default: 1 day, at most the voting period) */
  lateQuorumExtension?: number;
  /** timelock delay between queue and execute, seconds (default 2 days) */
  timelockDelay?: number;
  /** may resolve disputes besides the timelock (default: none) */
  arbiter?: string;
  /** extra timelock CANCELLER, e.g. the treasury Safe as guardian (default: none) */
  guardian?: string;
}

export interface GovernanceDeployment {
  membership: string;
  timelock: string;
  governor: string;
  /** block of the first governance deployment transaction */
  deployBlock: number;
}

const ONE_MEMBER = 10n ** 18n;

/**
 * Deploys the DAO (MembershipToken, OpenReadTimelock, OpenReadGovernor) for an existing deployment and hands
 * every admin power over to the timelock: ownership of IncentiveParameters, StudyMarket, StudyCustody, MembershipToken
 * (and StorageHolders and ResearchPools when the deployment has them),
 * and DEFAULT_ADMIN_ROLE of CredentialRegistry, AccessLogAnchor and RoDirectory (who appoints verifiers, anchorers and
 * RO admitters). `deployer`
 * must own / administer them. Verifiers and anchorers granted before this call keep their roles; later ones are
 * appointed by a proposal.
 *
 * Ownable2Step needs the new owner to accept, so the timelock starts with delay 0 and the deployer as its only
 * proposer/executor/admin, executes one batch (acceptOwnership of each, updateDelay(timelockDelay)), and then the
 * deployer gives up every timelock role and its admin role on the registry and the anchor: afterwards only the
 * governor proposes and executes (plus an optional guardian that may cancel), and the deployer can change nothing.
 * TestUSD (the stand-in for an external stablecoin, minted by the dev faucet) is not OpenRead's to govern and keeps its owner.
 */
export async function deployGovernance(
  deployer: Signer,
  deployment: Pick<Deployment, 'parameters' | 'market' | 'registry' | 'accessLogAnchor' | 'roDirectory' | 'studyCustody'> &
    Partial<Pick<Deployment, 'storageHolders' | 'researchPools'>>,
  opts: GovernanceOptions,
): Promise<GovernanceDeployment> {
  const from = await deployer.getAddress();
  let deployBlock = -1;
  const mined = async (what: string, tx: Promise<ContractTransactionResponse>) => {
    const sent = await tx;
    const receipt = await waitForReceipt(sent.provider, sent.hash);
    if (!receipt || receipt.status !== 1) throw new Error(`${what} failed (tx ${sent.hash})`);
    if (deployBlock < 0) deployBlock = receipt.blockNumber;
  };
  const deploy = async (name: string, args: unknown[]): Promise<Contract> => {
    const { abi, bytecode } = loadArtifact(name);
    const contract = await new ContractFactory(abi, bytecode, deployer).deploy(...args);
    const sent = contract.deploymentTransaction();
    const receipt = sent && (await waitForReceipt(sent.provider, sent.hash));
    if (!receipt || receipt.status !== 1) throw new Error(`deployment of ${name} failed`);
    if (deployBlock < 0) deployBlock = receipt.blockNumber;
    return new Contract(getAddress(await contract.getAddress()), abi, deployer);
  };

  const votingPeriod = opts.votingPeriod ?? 3 * 86400;
  const membership = await deploy('MembershipToken', [from]);
  for (const m of opts.members) {
    // HAZARD: a vote checkpoint costs more when the block's timestamp differs from the last checkpoint's, so an
    // estimate made at one timestamp can run out of gas at the next: add headroom.
    const args = [getAddress(m.address), m.votes ?? ONE_MEMBER];
    const gasLimit = ((await membership.mint.estimateGas(...args)) * 3n) / 2n;
    await mined(`mint to ${m.address}`, membership.mint(...args, { gasLimit }));
  }
  const timelock = await deploy('OpenReadTimelock', [0, [from], [from], from]);
  const governor = await deploy('OpenReadGovernor', [
    membership.target,
    timelock.target,
    opts.votingDelay ?? 3600,
    votingPeriod,
    opts.proposalThreshold ?? ONE_MEMBER,
    opts.quorumPercent ?? 10,
    opts.lateQuorumExtension ?? Math.min(86400, votingPeriod), // the governor refuses more than the voting period
  ]);

  const { parameters, market, registry } = contracts({ token: ZeroAddress, ...deployment }, deployer);
  const anchor = new Contract(deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, deployer);
  const directory = new Contract(deployment.roDirectory, loadArtifact('RoDirectory').abi, deployer);
  const custody = new Contract(deployment.studyCustody, loadArtifact('StudyCustody').abi, deployer);
  if (opts.arbiter) await mined('setArbiter', market.setArbiter(getAddress(opts.arbiter)));
  const owned = [parameters, market, custody, membership];
  if (deployment.storageHolders) owned.push(new Contract(deployment.storageHolders, loadArtifact('StorageHolders').abi, deployer));
  if (deployment.researchPools) owned.push(new Contract(deployment.researchPools, loadArtifact('ResearchPools').abi, deployer));
  for (const c of owned) await mined('transferOwnership', c.transferOwnership(timelock.target));

  const targets = [...owned.map((c) => c.target as string), timelock.target as string];
  const calldatas = [
    ...owned.map((c) => c.interface.encodeFunctionData('acceptOwnership')),
    timelock.interface.encodeFunctionData('updateDelay', [opts.timelockDelay ?? 2 * 86400]),
  ];
  const values = targets.map(() => 0n);
  await mined('schedule hand-over', timelock.scheduleBatch(targets, values, calldatas, ZeroHash, ZeroHash, 0));
  await mined('execute hand-over', timelock.executeBatch(targets, values, calldatas, ZeroHash, ZeroHash));

  const [proposer, executor, canceller, admin] = await Promise.all(
    ['PROPOSER_ROLE', 'EXECUTOR_ROLE', 'CANCELLER_ROLE', 'DEFAULT_ADMIN_ROLE'].map((r) => timelock[r]() as Promise<string>),
  );
  await mined('grant proposer', timelock.grantRole(proposer, governor.target));
  await mined('grant executor', timelock.grantRole(executor, governor.target));
  await mined('grant canceller', timelock.grantRole(canceller, governor.target));
  if (opts.guardian) await mined('grant guardian', timelock.grantRole(canceller, getAddress(opts.guardian)));
  for (const role of [proposer, executor, canceller]) await mined('revoke deployer role', timelock.revokeRole(role, from));
  // the timelock's own DEFAULT_ADMIN_ROLE is the same bytes32 as every AccessControl contract's
  for (const c of [registry, anchor, directory]) {
    await mined('grant admin to the timelock', c.grantRole(admin, timelock.target));
    await mined('renounce admin', c.renounceRole(admin, from));
  }
  await mined('renounce admin', timelock.renounceRole(admin, from));

  return {
    membership: membership.target as string,
    timelock: timelock.target as string,
    governor: governor.target as string,
    deployBlock,
  };
}

export interface GovernanceContracts {
  membership: Contract;
  timelock: Contract;
  governor: Contract;
}

/** ethers Contract instances of the DAO, connected to `runner`. */
export function governanceContracts(
  g: Pick<GovernanceDeployment, 'membership' | 'timelock' | 'governor'>,
  runner: ContractRunner | null,
): GovernanceContracts {
  return {
    membership: new Contract(g.membership, loadArtifact('MembershipToken').abi, runner),
    timelock: new Contract(g.timelock, loadArtifact('OpenReadTimelock').abi, runner),
    governor: new Contract(g.governor, loadArtifact('OpenReadGovernor').abi, runner),
  };
}
