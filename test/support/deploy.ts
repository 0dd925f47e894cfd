import { DEV_ROLES, deployOpenRead, devKey } from '#devchain';
import { JsonRpcProvider, NonceManager } from 'ethers';

/**
 * The contracts deployed on a bare anvil the way the test stack deploys them: by the deployer, fees to the first
 * treasury owner's account, study IDs signed by the dev issuer. The deployer (a NonceManager) sends what follows.
 */
export async function deployForTests(provider: JsonRpcProvider) {
  const deployer = new NonceManager(devKey(DEV_ROLES.deployer).connect(provider));
  const deployment = await deployOpenRead(deployer, {
    treasury: devKey(DEV_ROLES.treasuryOwners[0]).address,
    studyIdIssuer: devKey(DEV_ROLES.studyIdIssuer).address,
  });
  return { deployer, deployment };
}
