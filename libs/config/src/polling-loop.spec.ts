import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PollingLoop } from './polling-loop.js';

const INTERVAL = 10_000;

/**
 * A loop whose passes end only when the test says so: each pass waits on a gate, so the test decides what is
 * running when, and fake timers stand in for the interval. Nothing waits on wall-clock time.
 */
function gatedLoop() {
  const gates: { open(error?: Error): void }[] = [];
  const errors: string[] = [];
  const state = { active: 0, maxActive: 0 };
  const loop = new PollingLoop(
    () =>
      new Promise<void>((resolve, reject) => {
        state.active++;
        state.maxActive = Math.max(state.maxActive, state.active);
        gates.push({
          open(error) {
            state.active--;
            if (error) reject(error);
            else resolve();
          },
        });
      }),
    INTERVAL,
    (e) => errors.push(e.message),
  );
  return { loop, gates, errors, state, passes: () => gates.length };
}

/** Lets due timers fire and the promise callbacks they start settle (no time passes). */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('PollingLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs one pass at a time; nudges during a pass bring exactly one more pass as soon as it ends', async () => {
    const { loop, gates, state, passes } = gatedLoop();
    loop.start();
    await settle();
    expect(passes()).toBe(1);
    loop.nudge();
    loop.nudge();
    await settle();
    expect(passes()).toBe(1); // pass 1 is still running
    gates[0].open();
    await settle();
    expect(passes()).toBe(2); // one re-run for both nudges
    gates[1].open();
    await settle();
    expect(passes()).toBe(2);
    expect(state.maxActive).toBe(1);
    await stopIdle(loop);
  });

  it('reports a failing pass and goes on at the next interval', async () => {
    const { loop, gates, errors, passes } = gatedLoop();
    loop.start();
    await settle();
    gates[0].open(new Error('boom'));
    await settle();
    expect(errors).toEqual(['boom']);
    await vi.advanceTimersByTimeAsync(INTERVAL - 1);
    expect(passes()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(passes()).toBe(2); // the interval counts from the end of the failed pass
    gates[1].open();
    await stopIdle(loop);
  });

  it('runs at once when nudged while idle', async () => {
    const { loop, gates, passes } = gatedLoop();
    loop.start();
    await settle();
    gates[0].open();
    await settle();
    loop.nudge();
    await settle();
    expect(passes()).toBe(2); // without waiting for the interval
    gates[1].open();
    await stopIdle(loop);
  });

  it('stop() waits for the running pass, and a stopped loop stays stopped', async () => {
    const { loop, gates, state, passes } = gatedLoop();
    loop.start();
    await settle();
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    expect(state.active).toBe(1);
    gates[0].open();
    await stopping;
    expect(state.active).toBe(0);
    loop.nudge();
    await vi.advanceTimersByTimeAsync(3 * INTERVAL);
    expect(passes()).toBe(1);
    expect(loop.isStopped).toBe(true);
  });
});

/** Stops a loop whose passes have all been let through. */
async function stopIdle(loop: PollingLoop) {
  await settle();
  await loop.stop();
}
