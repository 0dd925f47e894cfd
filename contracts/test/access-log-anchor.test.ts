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
});
