import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, MaxUint256, id as keccakId, solidityPacked, type HDNodeWallet } from 'ethers';
import { FORWARD_REQUEST_TYPES, forwarderDomain, issuanceArgs, loadArtifact, type ForwardRequest } from '#chain';
import { ALL_MODALITIES, ALL_STATES, Status, USD, eventsOf, expectError, send, startWorld, type World } from './fixture.js';

const CA = 4;
const CT = 1;

let w: World;
let forwarder: Contract;
let ro: HDNodeWallet, rad: HDNodeWallet, relayer: HDNodeWallet, stranger: HDNodeWallet;

beforeAll(async () => {
  w = await startWorld();
  [, , ro, , rad, , , stranger, relayer] = w.wallets;
  forwarder = new Contract(w.deployment.forwarder, loadArtifact('OpenReadForwarder').abi, relayer);
  await send(w.c.token.mint(ro.address, 1000n * USD));
  await send(w.as(ro).token.approve(w.deployment.market, MaxUint256));
  await send(w.as(ro).market.deposit(1000n * USD));
  const far = BigInt(Math.floor(Date.now() / 1000) + 365 * 86400);
  await send(w.as(w.verifier).registry.attest(rad.address, ALL_STATES, ALL_MODALITIES, far));
});
afterAll(async () => {
  await w?.anvil.stop();
});

async function signed(signer: HDNodeWallet, data: string, o: Partial<ForwardRequest> = {}) {
  const request: ForwardRequest = {
    from: signer.address,
    to: w.deployment.market,
    value: 0n,
    gas: 300_000n,
    nonce: await forwarder.nonces(signer.address),
    deadline: Math.floor(Date.now() / 1000) + 3600,
    data,
    ...o,
  };
  const signature = await signer.signTypedData(
    forwarderDomain(w.deployment.chainId, w.deployment.forwarder),
    FORWARD_REQUEST_TYPES,
    request,
  );
  return { ...request, signature };
}

describe('gasless calls through the trusted forwarder (ERC-2771)', () => {
  it('claims and reports as the signer while the relayer pays, and consumes the nonce once', async () => {
    expect(await w.c.market.isTrustedForwarder(w.deployment.forwarder)).toBe(true);
    const studyId = keccakId('study:gasless');
    await send(w.as(ro).market.postStudy(studyId, CT, 10000, 0, CA, 100n * USD, ...issuanceArgs(w.issue(ro.address, studyId))));
    const radEthBefore = await w.provider.getBalance(rad.address);

    const claim = await signed(rad, w.c.market.interface.encodeFunctionData('claim', [studyId]));
    const receipt = await send(forwarder.execute(claim));
    expect(receipt.from.toLowerCase()).toBe(relayer.address.toLowerCase());
    expect(eventsOf(w.c, receipt, 'StudyClaimed')[0].args.radiologist).toBe(rad.address);
    // the same signed request cannot run twice
    await expectError(forwarder.execute(claim), 'ERC2771ForwarderInvalidSigner');

    const report = await signed(rad, w.c.market.interface.encodeFunctionData('submitReport', [studyId, keccakId('report')]));
    await send(forwarder.execute(report));
    expect((await w.c.market.getStudy(studyId)).status).toBe(Status.Reported);
    expect(await w.provider.getBalance(rad.address)).toBe(radEthBefore);
  });

  it('refuses a request whose signer is not its from, and a claim the signer is not eligible for', async () => {
    const studyId = keccakId('study:gasless-2');
    await send(w.as(ro).market.postStudy(studyId, CT, 10000, 0, CA, 100n * USD, ...issuanceArgs(w.issue(ro.address, studyId))));
    const data = w.c.market.interface.encodeFunctionData('claim', [studyId]);
    const forged = { ...(await signed(stranger, data)), from: rad.address };
    await expectError(forwarder.execute(forged), 'ERC2771ForwarderInvalidSigner');
    // the inner revert (NotEligible) makes execute fail; the nonce is not consumed
    const before = await forwarder.nonces(stranger.address);
    await expectError(forwarder.execute(await signed(stranger, data)), 'FailedCall');
    expect(await forwarder.nonces(stranger.address)).toBe(before);
  });

  it('does not let a direct caller spoof the sender by appending an address to the calldata', async () => {
    const studyId = keccakId('study:gasless-3');
    await send(w.as(ro).market.postStudy(studyId, CT, 10000, 0, CA, 100n * USD, ...issuanceArgs(w.issue(ro.address, studyId))));
    const data = w.c.market.interface.encodeFunctionData('claim', [studyId]);
    // a stranger (not the forwarder) appends the credentialed radiologist's address: _msgSender stays msg.sender
    await expectError(
      stranger.sendTransaction({ to: w.deployment.market, data: solidityPacked(['bytes', 'address'], [data, rad.address]) }),
      'NotEligible',
    );
  });

  it("binds a forwarded postStudy's issuance to the signer (_msgSender), not to the relayer that sends it", async () => {
    const studyId = keccakId('study:gasless-post');
    const post = (args: [bigint, string]) =>
      w.c.market.interface.encodeFunctionData('postStudy', [studyId, CT, 10000, 0, CA, USD, ...args]);
    // issued to the relayer (msg.sender of the forwarded call): refused, the inner revert fails execute
    await expectError(forwarder.execute(await signed(ro, post(issuanceArgs(w.issue(relayer.address, studyId))))), 'FailedCall');
    const receipt = await send(forwarder.execute(await signed(ro, post(issuanceArgs(w.issue(ro.address, studyId))))));
    expect(eventsOf(w.c, receipt, 'StudyPosted')[0].args.ro).toBe(ro.address);
  });
});
