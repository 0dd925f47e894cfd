import { FieldNode, FragmentDefinitionNode, GraphQLError, Kind, SelectionSetNode, ValidationContext, ValidationRule } from 'graphql';

/** Page size assumed for a list field whose `first` is a variable or absent (parseLimit's maximum). */
const ASSUMED_PAGE = 100;

export interface QueryCost {
  depth: number;
  complexity: number;
}

/**
 * Depth and complexity of one selection set, fragments expanded. Complexity: every field costs 1; a field with a
 * `first` argument multiplies its sub-selection by `first` (a literal) or ASSUMED_PAGE (a variable: validation
 * runs before variables are known, so the worst case counts). Introspection fields (`__schema`, `__type`) are not
 * counted: their depth is fixed by the schema, not by the client.
 */
export function measure(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): QueryCost {
  let depth = 0;
  let complexity = 0;
  for (const sel of set.selections) {
    let cost: QueryCost;
    if (sel.kind === Kind.FIELD) {
      if (sel.name.value.startsWith('__')) continue;
      const child = sel.selectionSet ? measure(sel.selectionSet, fragments, seen) : { depth: 0, complexity: 0 };
      cost = { depth: child.depth + 1, complexity: 1 + multiplier(sel) * child.complexity };
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      cost = measure(sel.selectionSet, fragments, seen);
    } else {
      const name = sel.name.value;
      const fragment = fragments.get(name);
      // a fragment cycle is rejected by graphql's NoFragmentCycles rule; do not recurse forever meanwhile
      if (!fragment || seen.has(name)) continue;
      cost = measure(fragment.selectionSet, fragments, new Set([...seen, name]));
    }
    depth = Math.max(depth, cost.depth);
    complexity += cost.complexity;
  }
  return { depth, complexity };
}

function multiplier(field: FieldNode): number {
  const first = field.arguments?.find((a) => a.name.value === 'first');
  if (!first) return 1;
  if (first.value.kind === Kind.INT) return Math.max(1, Number(first.value.value));
  return ASSUMED_PAGE;
}

/**
 * A validation rule: refuses an operation deeper than `maxDepth` or costlier than `maxComplexity` before anything
 * runs. The error surfaces as BAD_INPUT with `extensions.reason` QUERY_TOO_DEEP or QUERY_TOO_COMPLEX.
 */
export function queryLimits(maxDepth: number, maxComplexity: number): ValidationRule {
  return (context: ValidationContext) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of context.getDocument().definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    return {
      OperationDefinition(op) {
        const cost = measure(op.selectionSet, fragments);
        const name = op.name?.value ?? 'the operation';
        if (cost.depth > maxDepth)
          context.reportError(
            new GraphQLError(`${name} nests ${cost.depth} levels deep; at most ${maxDepth} are allowed`, {
              nodes: [op],
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_TOO_DEEP' },
            }),
          );
        else if (cost.complexity > maxComplexity)
          context.reportError(
            new GraphQLError(`${name} could select ${cost.complexity} fields; at most ${maxComplexity} are allowed`, {
              nodes: [op],
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_TOO_COMPLEX' },
            }),
          );
      },
    };
  };
}
