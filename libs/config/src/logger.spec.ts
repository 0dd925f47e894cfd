import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it } from 'vitest';
import { AppLogger } from './logger.js';
import { PollingLoop } from './polling-loop.js';
import { RepeatLog } from './repeat-log.js';

function jsonLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = new AppLogger('test', { json: true, destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { logger, lines };
}

describe('AppLogger (JSON)', () => {
  afterEach(() => Logger.overrideLogger(['error', 'warn', 'log']));

  it('writes Nest Logger calls as JSON with their context, and RepeatLog keeps counting through it', () => {
    const { logger, lines } = jsonLogger();
    Logger.overrideLogger(logger);
    const repeat = new RepeatLog(new Logger('Poller'), 60_000);
    for (let i = 0; i < 5; i++) repeat.error(`connect ECONNREFUSED after ${i} ms`);
    repeat.ok('postgres back');
    expect(lines.map((l) => [l.level, l.context, l.msg])).toEqual([
      [50, 'Poller', 'connect ECONNREFUSED after 0 ms'],
      [50, 'Poller', 'connect ECONNREFUSED after 4 ms (repeated 4× in the last 60 s)'],
      [30, 'Poller', expect.stringMatching(/^postgres back after \d+ s of failures$/)],
    ]);
  });

  it('keeps an error and its stack', () => {
    const { logger, lines } = jsonLogger();
    logger.error(new Error('boom'), 'Sender');
    logger.error('failed', 'Error: failed\n    at x', 'Sender');
    expect(lines[0]).toMatchObject({ level: 50, context: 'Sender', msg: 'boom', err: { message: 'boom' } });
    expect(lines[1]).toMatchObject({ level: 50, context: 'Sender', msg: 'failed', stack: 'Error: failed\n    at x' });
  });

  it("tags the lines written while a request is handled, even after the request stream's events, with its id", async () => {
    const { logger, lines } = jsonLogger();
    const req = Object.assign(new EventEmitter(), { headers: { 'x-request-id': 'abc-1' }, method: 'POST', url: '/graphql?x=1' });
    const headers: Record<string, string> = {};
    const res = Object.assign(new EventEmitter(), { setHeader: (k: string, v: string) => (headers[k] = v), statusCode: 200 });
    const done = new Promise<void>((resolve) => {
      logger.httpMiddleware()(req as unknown as IncomingMessage, res as unknown as ServerResponse, () => {
        // a body parser goes on from the stream's 'end', emitted from another async context
        req.once('end', () => {
          logger.log('resolved', 'Resolver');
          resolve();
        });
      });
    });
    setImmediate(() => req.emit('end'));
    await done;
    expect(headers['X-Request-Id']).toBe('abc-1');
    expect(lines.find((l) => l.msg === 'resolved')).toMatchObject({ reqId: 'abc-1', context: 'Resolver' });
    logger.log('outside');
    expect(lines.at(-1)).not.toHaveProperty('reqId');
  });
});

describe('AppLogger (console)', () => {
  it("writes an Error's message and stack, not `{}`", () => {
    const logger = new AppLogger('test', { json: false });
    let out = '';
    const write = process.stderr.write.bind(process.stderr);
    const stdout = process.stdout.write.bind(process.stdout);
    process.stderr.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stderr.write;
    process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
    try {
      logger.error(new Error('boom at the node'), 'unhandled rejection');
      Logger.overrideLogger(logger);
      new Logger('Sender').error(new Error('second boom'));
      Logger.overrideLogger(['error', 'warn', 'log']);
    } finally {
      process.stderr.write = write;
      process.stdout.write = stdout;
    }
    expect(out).toContain('boom at the node');
    expect(out).toContain('unhandled rejection');
    expect(out).toContain('second boom');
    expect(out).toContain('[Sender]');
    expect(out).toMatch(/at .*logger\.spec/);
    expect(out).not.toContain('{}');
  });

  it('gives each pass of a loop its own id, kept across its awaits and by its failure line, and none to the summaries', async () => {
    const { logger, lines } = jsonLogger();
    Logger.overrideLogger(logger);
    const log = new Logger('Indexer');
    const repeat = new RepeatLog(log, 1_000);
    let passes = 0;
    const loop = new PollingLoop(
      async () => {
        const n = ++passes;
        log.log(`batch ${n}: fetched`);
        await new Promise((r) => setTimeout(r, 5));
        log.log(`batch ${n}: stored`);
        if (n >= 3) throw new Error('database unavailable');
      },
      1,
      (e) => repeat.error(e.message),
      () => undefined,
      'index',
    );
    loop.start();
    while (lines.filter((l) => /repeated/.test(String(l.msg))).length === 0) await new Promise((r) => setTimeout(r, 20));
    await loop.stop();
    repeat.stop();

    const idOf = (msg: string) => lines.find((l) => l.msg === msg)?.reqId;
    for (const n of [1, 2, 3]) {
      expect(idOf(`batch ${n}: fetched`)).toMatch(/^index-[0-9a-f]{8}$/);
      expect(idOf(`batch ${n}: stored`)).toBe(idOf(`batch ${n}: fetched`));
    }
    expect(new Set([1, 2, 3].map((n) => idOf(`batch ${n}: fetched`))).size).toBe(3);
    // the failure is written by the pass that failed first; the interval's summary belongs to no pass
    expect(idOf('database unavailable')).toBe(idOf('batch 3: fetched'));
    expect(lines.find((l) => /repeated/.test(String(l.msg)))).not.toHaveProperty('reqId');
  });
});
