import { type HDNodeWallet, Wallet, hexlify, randomBytes } from 'ethers';
import { mined } from '#chain';
import { DEV_ROLES } from '#devchain';
import { modalityIndex, stateIndex, toMask, urgencyIndex } from '#domain';
import { GqlClient } from './client.js';
import { type Stack, devWallet, waitFor } from './stack.js';

/** What the helpers need of a stack: the in-process one (startStack), or a chain and an API process at its URL. */
export type StackLike = Pick<Stack, 'owner' | 'provider' | 'deployment' | 'issued'> & { api: Stack['api'] | string };

/** Mints `amount` test tokens to the RO wallet, approves the market and deposits them into the RO's market balance. */
export async function fundRo(stack: Pick<StackLike, 'owner' | 'deployment'>, ro: { address: string }, amount: bigint): Promise<void> {
  const { owner } = stack;
  await mined(owner.token.mint(ro.address, amount));
  await mined((owner.token.connect(ro as never) as typeof owner.token).approve(stack.deployment.market, amount));
  await mined((owner.market.connect(ro as never) as typeof owner.market).deposit(amount));
}

/** Posts an open CT study in CA with a 100-token bounty from the dev RO depositor (funded first with fundRo); its ID. */
export async function postCtStudy(stack: Pick<StackLike, 'owner' | 'provider' | 'issued'>): Promise<string> {
  const studyId = hexlify(randomBytes(32));
  const ro = devWallet(DEV_ROLES.roDepositor, stack.provider);
  const market = stack.owner.market.connect(ro) as typeof stack.owner.market;
  await mined(
    market.postStudy(
      studyId,
      modalityIndex('CT'),
      10_000,
      urgencyIndex('ROUTINE'),
      stateIndex('CA'),
      100n * 1_000_000n,
      ...stack.issued(ro.address, studyId),
    ),
  );
  return studyId;
}

/** A radiologist with a fresh key and zero ETH, credentialed for CT in CA, signed in once the credential is indexed. */
export async function ctRadiologist(
  stack: Pick<StackLike, 'owner' | 'provider' | 'api'>,
): Promise<{ wallet: HDNodeWallet; client: GqlClient }> {
  const wallet = Wallet.createRandom().connect(stack.provider);
  const expiry = (await stack.provider.getBlock('latest'))!.timestamp + 365 * 86400;
  await mined(stack.owner.registry.attest(wallet.address, toMask([stateIndex('CA')]), toMask([modalityIndex('CT')]), expiry));
  const client = new GqlClient(stack.api);
  await client.signIn(wallet);
  await waitFor('the credential indexed', async () => !(await client.send(`{ worklist { items { id } } }`)).errors);
  return { wallet, client };
}
