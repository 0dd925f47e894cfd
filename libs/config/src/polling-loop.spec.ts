import { describe, expect, it } from 'vitest';
import { PollingLoop } from './polling-loop.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PollingLoop', () => {
  it('runs one pass at a time, runs again at once when nudged mid-pass, survives a failing pass, and stops after the running pass', async () => {
    let active = 0;
    let maxActive = 0;
    let passes = 0;
    const errors: string[] = [];
    const loop = new PollingLoop(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        passes++;
        await sleep(30);
        active--;
        if (passes === 2) throw new Error('boom');
      },
      10_000, // only nudges bring further passes within this test
      (e) => errors.push(e.message),
    );
    loop.start();
    await sleep(5);
    loop.nudge(); // during pass 1
    loop.nudge();
    await sleep(100);
    expect(passes).toBe(2); // pass 1, then exactly one re-run for the nudges
    expect(errors).toEqual(['boom']);
    loop.nudge(); // idle: runs now
    await sleep(5);
    const stopping = loop.stop();
    expect(active).toBe(1);
    await stopping;
    expect(active).toBe(0);
    expect(passes).toBe(3);
    expect(maxActive).toBe(1);
    loop.nudge();
    await sleep(20);
    expect(passes).toBe(3); // stopped stays stopped
  });
});
