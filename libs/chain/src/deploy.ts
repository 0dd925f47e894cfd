import { Contract, ContractFactory, getAddress, type ContractRunner, type Signer } from 'ethers';
import { loadArtifact } from './artifacts.js';
import { waitForReceipt } from './receipts.js';

export interface Deployment {
  chainId: number;
  /** block of the first deployment transaction: where indexers start */
  deployBlock: number;
  token: string;
  parameters: string;
  registry: string;
  market: string;
  treasury: string;
  /** AccessLogAnchor: the study access log's hash chain head, anchored periodically */
  accessLogAnchor: string;
  /** OpenReadForwarder: the ERC-2771 forwarder StudyMarket trusts (gasless claims and reports) */
  forwarder: string;
}

export interface DeployOptions {
  /** owner of TestUSD / IncentiveParameters / StudyMarket and admin of CredentialRegistry; default: deployer */
  owner?: string;
  treasury: string;
}

/**
 * Deploys TestUSD, IncentiveParameters, CredentialRegistry, OpenReadForwarder and StudyMarket (and AccessLogAnchor), in that order, with explicit
 * consecutive nonces, waiting for each receipt.
 */
export async function deployOpenRead(deployer: Signer, opts: DeployOptions): Promise<Deployment> {
  const provider = deployer.provider;
  if (!provider) throw new Error('deployOpenRead: the deployer signer needs a provider');
  const from = await deployer.getAddress();
  const owner = getAddress(opts.owner ?? from);
  const treasury = getAddress(opts.treasury);
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

  const token = await deploy('TestUSD', [owner]);
  const parameters = await deploy('IncentiveParameters', [owner]);
  const registry = await deploy('CredentialRegistry', [owner]);
  const forwarder = await deploy('OpenReadForwarder', []);
  const market = await deploy('StudyMarket', [token, parameters, registry, treasury, owner, forwarder]);
  const accessLogAnchor = await deploy('AccessLogAnchor', [owner]);
  return { chainId: Number(chainId), deployBlock, token, parameters, registry, market, treasury, accessLogAnchor, forwarder };
}

export interface OpenReadContracts {
  token: Contract;
  parameters: Contract;
  registry: Contract;
  market: Contract;
}

/** ethers Contract instances of a deployment, connected to `runner` (a signer or a provider). */
export function contracts(deployment: Pick<Deployment, 'token' | 'parameters' | 'registry' | 'market'>, runner: ContractRunner | null): OpenReadContracts {
  return {
    token: new Contract(deployment.token, loadArtifact('TestUSD').abi, runner),
    parameters: new Contract(deployment.parameters, loadArtifact('IncentiveParameters').abi, runner),
    registry: new Contract(deployment.registry, loadArtifact('CredentialRegistry').abi, runner),
    market: new Contract(deployment.market, loadArtifact('StudyMarket').abi, runner),
  };
}
