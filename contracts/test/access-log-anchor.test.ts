import { Contract, id } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifact } from '#chain';
import { AccessLogMerkleTree } from '#lease';
import { World, expectError, send, startWorld } from './fixture.js';

const ZERO = `0x${'00'.repeat(32)}`;

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
    await expectError(as(anchorer).anchor(1, id('head-1'), id('root')), 'AccessControlUnauthorizedAccount');
    await send(anchor.grantRole(id('ANCHORER_ROLE'), anchorer.address));
    await expectError(as(anchorer).anchor(1, ZERO, id('root')), 'ZeroHead');
    await expectError(as(anchorer).anchor(1, id('head-1'), ZERO), 'ZeroRoot');
    const r = await send(as(anchorer).anchor(3, id('head-3'), id('root-3')));
    expect(r.logs.map((l) => anchor.interface.parseLog(l)?.name)).toEqual(['AccessLogAnchored']);
    expect(anchor.interface.parseLog(r.logs[0])?.args.toArray()).toEqual([3n, 1n, id('head-3'), id('root-3'), anchorer.address]);
    expect(await anchor.rootOf(3)).toBe(id('root-3'));
    expect(await anchor.rootOf(2)).toBe(ZERO);
    expect(await anchor.latest()).toEqual([3n, id('head-3')]);
    await expectError(as(anchorer).anchor(3, id('other'), id('root')), 'StaleAnchor', [3n, 3n]);
    await expectError(as(anchorer).anchor(2, id('older'), id('root')), 'StaleAnchor', [2n, 3n]);
    expect(await anchor.latest()).toEqual([3n, id('head-3')]);
  });

  it('moves at most MAX_SEQ_STEP per anchor, so an anchorer cannot jump to 2^64-1 and brick anchoring', async () => {
    const anchorer = w.wallets[5];
    const as = anchor.connect(anchorer) as Contract;
    const step = await anchor.MAX_SEQ_STEP();
    expect(step).toBe(2n ** 32n);
    const [last] = (await anchor.latest()) as [bigint, string];
    await expectError(as.anchor(2n ** 64n - 1n, id('brick'), id('root')), 'AnchorTooFarAhead', [2n ** 64n - 1n, last]);
    await expectError(as.anchor(last + step + 1n, id('too-far'), id('root')), 'AnchorTooFarAhead', [last + step + 1n, last]);
    expect(await anchor.latest()).toEqual([last, id('head-3')]);
    // the largest step is taken, and the next anchor still has room
    await send(as.anchor(last + step, id('far'), id('root')));
    await send(as.anchor(last + step + 1n, id('next'), id('root')));
    expect(await anchor.latest()).toEqual([last + step + 1n, id('next')]);
  });

  it("accepts OpenZeppelin MerkleProof inclusion proofs of the TypeScript tree (libs/lease), and only for the anchor's own root", async () => {
    const anchorer = w.wallets[5];
    const as = anchor.connect(anchorer) as Contract;
    for (const n of [1, 2, 3, 5, 8, 13]) {
      const leaves = Array.from({ length: n }, (_, i) => id(`entry ${n}/${i}`));
      const tree = new AccessLogMerkleTree(leaves);
      const [last] = (await anchor.latest()) as [bigint, string];
      const seq = last + BigInt(n);
      await send(as.anchor(seq, id(`head ${n}`), tree.root));
      for (const leaf of leaves) {
        expect(await anchor.includes(seq, leaf, tree.proof(leaf))).toBe(true);
        // another anchor's root, or a leaf not among the entries, is refused
        expect(await anchor.includes(seq - 1n, leaf, tree.proof(leaf))).toBe(false);
      }
      expect(await anchor.includes(seq, id('not an entry'), tree.proof(leaves[0]))).toBe(false);
    }
  });
});
