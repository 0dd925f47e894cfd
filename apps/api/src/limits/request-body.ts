import type { NextFunction, Request, Response } from 'express';
import { type GraphQLError, Kind, parse } from 'graphql';
import { formatError } from '../common/errors.js';
import { widthRefusal } from './query-limits.js';
import { hasBearer } from './request-limiter.js';

export interface RequestBodyLimits {
  /** the largest body of any request */
  maxRequestBytes: number;
  /** the largest body of a request whose every operation is a byte upload */
  maxUploadBytes: number;
  /** the parser's token limit, also for the upload check */
  maxTokens: number;
  /** root mutation fields that carry bytes (base64 arguments) */
  uploadFields: readonly string[];
  /** most aliases per document and root fields per operation (checked here, before graphql's validation) */
  maxRootFields: number;
  /** whether the Authorization header names a live session (only signed-in accounts may send large bodies) */
  mayUpload: (authorization: string | undefined) => Promise<boolean>;
  /** a stored answer of this exact request (the introspection cache), written as is without reaching Apollo */
  storedAnswer?: (body: unknown) => Buffer | undefined;
}

/** Why a body was refused, answered like a GraphQL error so clients read it the same way. */
function refuse(res: Response, status: number, message: string): void {
  if (res.headersSent) return;
  res.status(status).setHeader('connection', 'close');
  res.json({ errors: [{ message, extensions: { code: 'BAD_INPUT', reason: 'REQUEST_TOO_LARGE' } }] });
  // the rest of a refused body is not waited for: Node closes a `connection: close` socket as soon as the answer is
  // written (destroying it here would race that write, and cost an error object per refusal)
}

/**
 * The GraphQL document at the start of a JSON body (`{"query": "…"` first, as every client here sends it), read from
 * the first `maxRequestBytes` only, or null.
 */
export function leadingQuery(head: string): string | null {
  const start = /^\s*\{\s*"query"\s*:\s*"/.exec(head);
  if (!start) return null;
  let i = start[0].length;
  for (; i < head.length; i++) {
    if (head[i] === '\\') i++;
    else if (head[i] === '"') break;
  }
  if (i >= head.length) return null;
  try {
    return JSON.parse(head.slice(start[0].length - 1, i + 1)) as string;
  } catch {
    return null;
  }
}

/** Whether a document holds only mutations whose every root field is a byte upload (no fragments, no other fields). */
export function onlyUploads(query: string, uploadFields: readonly string[], maxTokens: number): boolean {
  let document;
  try {
    document = parse(query, { maxTokens, noLocation: true });
  } catch {
    return false;
  }
  return document.definitions.every(
    (d) =>
      d.kind === Kind.OPERATION_DEFINITION &&
      d.operation === 'mutation' &&
      d.selectionSet.selections.every((s) => s.kind === Kind.FIELD && uploadFields.includes(s.name.value)),
  );
}

/**
 * The JSON body reader of POST /graphql, before anything is parsed or authenticated: a body up to `maxRequestBytes`
 * is read as usual; a larger one is read on only if its first `maxRequestBytes` already show a document of byte
 * uploads alone and the caller is signed in, up to `maxUploadBytes`. Anything else is refused (413) as soon as it
 * crosses the small limit, so an anonymous client cannot make the API receive, hold or parse large bodies.
 */
export function graphqlBodyReader(limits: RequestBodyLimits) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const type = req.headers['content-type'] ?? '';
    if (req.method !== 'POST' || req.path !== '/graphql' || !/^application\/json\b/i.test(type)) return next();
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limits.maxUploadBytes) return refuse(res, 413, `the request body is larger than ${limits.maxUploadBytes} bytes`);
    // only a signed-in account may send more than the small limit: without a session token, refuse before reading
    if (declared > limits.maxRequestBytes && !hasBearer(req.headers.authorization))
      return refuse(res, 413, `the request body is larger than ${limits.maxRequestBytes} bytes; sign in first to send larger byte uploads`);
    const chunks: Buffer[] = [];
    let size = 0;
    let admitted = false;
    let checking = false;
    let ended = false;
    let failed = false;
    const fail = (message: string) => {
      failed = true;
      refuse(res, 413, message);
    };
    const finish = () => {
      if (failed || checking) return;
      let body: unknown;
      try {
        body = size ? JSON.parse(Buffer.concat(chunks, size).toString('utf8')) : {};
      } catch {
        res.status(400).json({ errors: [{ message: 'the request body is not JSON', extensions: { code: 'BAD_INPUT' } }] });
        return;
      }
      const stored = limits.storedAnswer?.(body);
      if (stored) {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': stored.length });
        res.end(stored);
        return;
      }
      // a too wide document is answered here, as Apollo answers a validation error, before graphql's validation
      // runs (its overlapping-fields rule is quadratic in same-named fields); anything unparsable is left to Apollo
      const query = (body as { query?: unknown } | null)?.query;
      if (typeof query === 'string') {
        let refused: { message: string; reason: string } | null = null;
        try {
          refused = widthRefusal(parse(query, { maxTokens: limits.maxTokens, noLocation: true }), limits.maxRootFields);
        } catch (e) {
          // answered here as Apollo would (400, BAD_INPUT through formatError): Apollo would parse it all over again,
          // up to the token limit, which is the costliest part of a refused document
          if ((e as Error)?.name === 'GraphQLError') {
            const error = e as GraphQLError;
            res.status(400).json({ errors: [formatError({ ...error.toJSON(), extensions: { code: 'GRAPHQL_PARSE_FAILED' } }, error)] });
            return;
          }
        }
        if (refused) {
          res.status(400).json({ errors: [{ message: refused.message, extensions: { code: 'BAD_INPUT', reason: refused.reason } }] });
          return;
        }
      }
      req.body = body;
      (req as Request & { _body?: boolean })._body = true;
      next();
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      chunks.push(chunk);
      size += chunk.length;
      if (size > limits.maxUploadBytes) return fail(`the request body is larger than ${limits.maxUploadBytes} bytes`);
      if (admitted || checking || size <= limits.maxRequestBytes) return;
      // past the small limit: decide on what has arrived whether to read on
      const query = leadingQuery(Buffer.concat(chunks, size).subarray(0, limits.maxRequestBytes).toString('utf8'));
      if (!query || !onlyUploads(query, limits.uploadFields, limits.maxTokens))
        return fail(
          `the request body is larger than ${limits.maxRequestBytes} bytes; only ${limits.uploadFields.join(' and ')} (with "query" first in the JSON) may be larger`,
        );
      checking = true;
      req.pause();
      limits.mayUpload(req.headers.authorization).then(
        (ok) => {
          checking = false;
          if (!ok) return fail('sign in first: only signed-in accounts may send large uploads');
          admitted = true;
          if (ended) finish();
          else req.resume();
        },
        () => fail('the upload could not be authorised; try again'),
      );
    });
    req.on('end', () => {
      ended = true;
      finish();
    });
    req.on('error', () => undefined);
  };
}
