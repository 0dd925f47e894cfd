import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { type FragmentDefinitionNode, Kind, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

type Result = Record<string, unknown>;

/** Whether every root field of `set` (fragments expanded) is an introspection field (`__schema`, `__type`, `__typename`). */
function onlyIntrospection(set: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, seen = new Set<string>()): boolean {
  return set.selections.every((sel) => {
    if (sel.kind === Kind.FIELD) return sel.name.value.startsWith('__');
    if (sel.kind === Kind.INLINE_FRAGMENT) return onlyIntrospection(sel.selectionSet, fragments, seen);
    const fragment = fragments[sel.name.value];
    if (!fragment || seen.has(sel.name.value)) return false;
    return onlyIntrospection(fragment.selectionSet, fragments, new Set([...seen, sel.name.value]));
  });
}

/**
 * Answers of introspection-only queries, executed once per distinct document (Apollo's hash of its text), operation
 * name and variables. The schema does not change while the API runs, and introspection does not depend on who asks,
 * so a full introspection (hundreds of ms under load, ~50 small queries' worth) costs one lookup after the first.
 * Documents still pass parsing and validation (the query limits) first: Apollo caches those per document too.
 * At most `maxEntries` answers are kept (least recently used go first).
 */
export class IntrospectionCache {
  private readonly answers = new Map<string, Result>();
  /** the same answers as Apollo writes them, by the request's exact text (see `answer`) */
  private readonly bytes = new Map<string, Buffer>();
  /** answers served from the cache, and executed to fill it */
  hits = 0;
  misses = 0;
  /** answers written as stored bytes before Apollo (`answer`) */
  served = 0;

  constructor(private readonly maxEntries = 16) {}

  readonly plugin: ApolloServerPlugin = {
    requestDidStart: async () => {
      let key: string | undefined;
      return {
        responseForOperation: async (ctx: GraphQLRequestContext<object>) => {
          key = this.keyOf(ctx);
          if (key === undefined) return null;
          const cached = this.answers.get(key);
          if (!cached) return null;
          this.answers.delete(key);
          this.answers.set(key, cached);
          this.hits++;
          return { http: { status: undefined, headers: new HeaderMap() }, body: { kind: 'single', singleResult: { data: cached } } };
        },
        willSendResponse: async ({ response, request }) => {
          if (key === undefined || response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (errors?.length || !data) return;
          const text = IntrospectionCache.textKey(request);
          // as Apollo serialises a single result (JSON and a newline)
          if (text !== undefined && !this.bytes.has(text)) {
            this.bytes.set(text, Buffer.from(JSON.stringify({ data }) + '\n'));
            if (this.bytes.size > this.maxEntries) this.bytes.delete(this.bytes.keys().next().value!);
          }
          if (this.answers.has(key)) return;
          this.misses++;
          this.answers.set(key, data as Result);
          if (this.answers.size > this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
        },
      };
    },
  };

  /**
   * The stored answer of a parsed JSON request body, if it is exactly the text (query, operation name, variables) of
   * an introspection-only query Apollo already answered. The HTTP body reader writes it as is: a repeated
   * introspection then costs neither parsing, validation nor serialising its few hundred kB again.
   */
  answer(body: unknown): Buffer | undefined {
    if (this.bytes.size === 0) return undefined;
    const text = IntrospectionCache.textKey(body);
    const bytes = text === undefined ? undefined : this.bytes.get(text);
    if (bytes) this.served++;
    return bytes;
  }

  /**
   * A request's exact text as a key: its query and operation name (the fields Apollo reads of a body), for a request
   * without variables or extensions only (an introspection query has none; a body's variables, of any depth, are
   * never walked here).
   */
  private static textKey(request: unknown): string | undefined {
    if (typeof request !== 'object' || request === null) return undefined;
    const { query, operationName, variables, extensions } = request as Record<string, unknown>;
    if (typeof query !== 'string' || extensions !== undefined || variables !== undefined) return undefined;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    return JSON.stringify([operationName ?? null, query]);
  }

  private keyOf(ctx: GraphQLRequestContext<object>): string | undefined {
    const op = ctx.operation as OperationDefinitionNode | undefined;
    if (!op || op.operation !== 'query' || !ctx.document) return undefined;
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const d of ctx.document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
    if (!onlyIntrospection(op.selectionSet, fragments)) return undefined;
    return JSON.stringify([ctx.queryHash, ctx.operationName ?? null, ctx.request.variables ?? {}]);
  }
}
