import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConsoleLogger, type LogLevel, type LoggerService } from '@nestjs/common';
import { type DestinationStream, type Logger as Pino, pino } from 'pino';
import { pinoHttp } from 'pino-http';

/** A client's X-Request-Id is kept only when it is a short token that cannot forge or split a log line. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Header values that must never reach a log line, wherever a serializer or a caller puts the headers. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * The id every line carries as `reqId`: an HTTP request's (AppLogger.httpMiddleware), or one pass of a background loop
 * or one send attempt (withLogId). One per process, so the Nest `Logger` instances the services use need no change.
 */
const logContext = new AsyncLocalStorage<string>();

/** A new id for one pass of a loop or one attempt, e.g. `index-1f2e3d4c`: short, and a safe token like a request's. */
export function newLogId(kind: string): string {
  return `${kind}-${randomUUID().slice(0, 8)}`;
}

/**
 * Runs `fn` (and everything it starts: awaits, timers, callbacks) so that every line it writes carries `id`, as the
 * lines of an HTTP request carry the request's: one batch of the indexer or one send of the worker can then be followed
 * across its lines, and told apart from the next.
 */
export function withLogId<T>(id: string, fn: () => T): T {
  return logContext.run(id, fn);
}

/** Runs `fn` outside any id: for timers that outlive the pass that created them (RepeatLog's summaries). */
export function withoutLogId<T>(fn: () => T): T {
  return logContext.exit(fn);
}

export interface AppLoggerOptions {
  /** JSON lines (pino) when true; Nest's console lines otherwise. Default: LOG_FORMAT, else NODE_ENV === 'production'. */
  json?: boolean;
  /** the levels written (Nest's names); default error, warn, log */
  levels?: LogLevel[];
  /** where JSON lines go (tests); default stdout */
  destination?: DestinationStream;
}

/**
 * The apps' Nest logger: one JSON object per line through pino in production (what a log pipeline parses), Nest's
 * readable console lines in development. Every line written while an HTTP request is handled carries that request's
 * id (`reqId`), taken from the request's async context (and a background pass's, see withLogId), so the Nest `Logger` instances the services already use (and
 * RepeatLog on top of them) need no change.
 */
export class AppLogger implements LoggerService {
  private readonly requests = logContext;
  private readonly pino: Pino | null;
  private readonly console: ConsoleLogger | null;

  constructor(
    readonly app: string,
    options: AppLoggerOptions = {},
  ) {
    // read from the environment, not the validated config: the logger exists before the config is parsed (its errors are logged)
    const format = process.env.LOG_FORMAT;
    const json = options.json ?? (format === 'json' || (format !== 'text' && process.env.NODE_ENV === 'production'));
    const levels = options.levels ?? ['error', 'warn', 'log'];
    if (json) {
      this.console = null;
      this.pino = pino(
        {
          base: { app, pid: process.pid },
          level: pinoLevel(lowest(levels)),
          timestamp: pino.stdTimeFunctions.isoTime,
          redact: { paths: REDACT, censor: '[redacted]' },
          mixin: () => {
            const reqId = this.requests.getStore();
            return reqId ? { reqId } : {};
          },
        },
        options.destination ?? pino.destination({ dest: 1, sync: true }),
      );
    } else {
      this.pino = null;
      this.console = new ConsoleLogger({ logLevels: levels });
    }
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /**
   * Express middleware, installed before any other: gives the request its id (the client's X-Request-Id when it is
   * a safe token, else a new UUID), echoes it in the response's X-Request-Id, runs the rest of the request inside
   * that id's context, and in JSON mode writes one access line per response (method, path without the query
   * string, status, time; no headers, so no token, cookie or PHI).
   */
  httpMiddleware(): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
    const access = this.pino
      ? pinoHttp({
          logger: this.pino,
          genReqId: (req) => (req as IncomingMessage & { id: string }).id,
          // the access line is written on the response's finish, outside the request's async context
          customProps: (req) => ({ reqId: (req as IncomingMessage & { id: string }).id }),
          serializers: {
            req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
          customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
        })
      : null;
    return (req, res, next) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
      (req as IncomingMessage & { id: string }).id = id;
      res.setHeader('X-Request-Id', id);
      this.requests.run(id, () => {
        // the body parsers go on from the request stream's events, which Node runs in the socket's context: bound
        // here, their listeners (and all that follows them) stay in this request's
        req.emit = AsyncResource.bind(req.emit.bind(req)) as typeof req.emit;
        res.emit = AsyncResource.bind(res.emit.bind(res)) as typeof res.emit;
        if (access) access(req, res, next);
        else next();
      });
    };
  }

  private write(level: Level, message: unknown, rest: unknown[]): void {
    const params = [...rest];
    // Nest passes the Logger's context last
    const context = params.length && typeof params.at(-1) === 'string' ? (params.pop() as string) : undefined;
    const reqId = this.requests.getStore();
    if (this.console) {
      const method = level === 'info' ? 'log' : level === 'trace' ? 'verbose' : level;
      // Nest's console prints an Error object as `{}`: its message, and its stack where Nest expects one (error)
      if (message instanceof Error) {
        // a Nest Logger with a context passes an undefined stack before it
        if (method === 'error' && !params.some((p) => typeof p === 'string')) params.splice(0, params.length, message.stack ?? '');
        message = method === 'error' ? message.message : (message.stack ?? message.message);
      }
      const text = reqId && typeof message === 'string' ? `${message} [req ${reqId}]` : message;
      this.console[method](text, ...params, ...(context ? [context] : []));
      return;
    }
    const fields: Record<string, unknown> = context ? { context } : {};
    // error(message, stack, context): the stack Nest hands over as a string
    const stack = params.find((p): p is string => typeof p === 'string');
    if (stack) fields.stack = stack;
    if (message instanceof Error) this.pino![level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'string') this.pino![level](fields, message);
    else this.pino![level]({ ...fields, data: message });
  }
}

const ORDER: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

function lowest(levels: LogLevel[]): LogLevel {
  return ORDER.find((l) => levels.includes(l)) ?? 'log';
}

function pinoLevel(level: LogLevel): Level {
  return level === 'log' ? 'info' : level === 'verbose' ? 'trace' : level;
}
