import { Contract, id } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact } from '#chain';
import { World, expectError, send, startWorld } from './fixture.js';

describe('AccessLogAnchor', () => {
  let w: World;
  let anchor: Contract;
  beforeAll(async () => {
    w = await startWorld();
    anchor = new Contract(w.deployment.accessLogAnchor, loadArtifact('AccessLogAnchor').abi, w.owner);
  });
  afterAll(async () => {
    await w?.anvil.stop();
  });

  it('records only increasing sequence numbers with a non-zero head, from anchorers only', async () => {
    const anchorer = w.wallets[5];
    const as = (s: typeof anchorer) => anchor.connect(s) as Contract;
    await expectError(as(anchorer).anchor(1, id('head-1')), 'AccessControlUnauthorizedAccount');
    await send(anchor.grantRole(id('ANCHORER_ROLE'), anchorer.address));
    await expectError(as(anchorer).anchor(1, `0x${'00'.repeat(32)}`), 'ZeroHead');
    const r = await send(as(anchorer).anchor(3, id('head-3')));
    expect(r.logs.map((l) => anchor.interface.parseLog(l)?.name)).toEqual(['AccessLogAnchored']);
    expect(await anchor.latest()).toEqual([3n, id('head-3')]);
    await expectError(as(anchorer).anchor(3, id('other')), 'StaleAnchor', [3n, 3n]);
    await expectError(as(anchorer).anchor(2, id('older')), 'StaleAnchor', [2n, 3n]);
    expect(await anchor.latest()).toEqual([3n, id('head-3')]);
  });

  it('moves at most MAX_SEQ_STEP per anchor, so an anchorer cannot jump to 2^64-1 and brick anchoring', async () => {
    const anchorer = w.wallets[5];
    const as = anchor.connect(anchorer) as Contract;
    const step = await anchor.MAX_SEQ_STEP();
    expect(step).toBe(2n ** 32n);
    const [last] = (await anchor.latest()) as [bigint, string];
    await expectError(as.anchor(2n ** 64n - 1n, id('brick')), 'AnchorTooFarAhead', [2n ** 64n - 1n, last]);
    await expectError(as.anchor(last + step + 1n, id('too-far')), 'AnchorTooFarAhead', [last + step + 1n, last]);
    expect(await anchor.latest()).toEqual([last, id('head-3')]);
    // the largest step is taken, and the next anchor still has room
    await send(as.anchor(last + step, id('far')));
    await send(as.anchor(last + step + 1n, id('next')));
    expect(await anchor.latest()).toEqual([last + step + 1n, id('next')]);
  });
});
