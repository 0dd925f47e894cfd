import { buildSchema, getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { queryLimits } from './query-limits.js';

const schema = buildSchema(`type Query { a: Int, b(first: Int): [Query] }`);
const DEFAULTS = { maxDepth: 10, maxComplexity: 10_000, maxRootFields: 50 };
const reasons = (query: string, limits = DEFAULTS) =>
  validate(schema, parse(query), [...specifiedRules, queryLimits(limits)]).map((e) => e.extensions.reason ?? e.message);

describe('query limits', () => {
  it('let the standard introspection query (GraphiQL, codegen) through with the default limits', () => {
    expect(reasons(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true }))).toEqual([]);
  });

  it('count introspection fields: aliases, root fields, depth and complexity', () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(' ')} }`;
    expect(reasons(aliases(50))).toEqual([]);
    expect(reasons(aliases(51))).toEqual(['TOO_MANY_ALIASES']);
    expect(reasons(`{ ${'__typename '.repeat(51)} }`)).toEqual(['TOO_MANY_ROOT_FIELDS']);
    expect(reasons(`{ ...F ...F } fragment F on Query { ${'__typename '.repeat(30)} }`)).toEqual(['TOO_MANY_ROOT_FIELDS']);
    // __type, n × ofType, name: n + 2 levels; 15 allowed whatever maxDepth is
    const nest = (n: number) => `{ __type(name: "Query") { ${'ofType { '.repeat(n)}name${' }'.repeat(n)} } }`;
    expect(reasons(nest(13))).toEqual([]);
    expect(reasons(nest(14))).toEqual(['QUERY_TOO_DEEP']);
    expect(reasons(`{ __schema { types { name } } }`, { ...DEFAULTS, maxComplexity: 2 })).toEqual(['QUERY_TOO_COMPLEX']);
  });
});
