import {
  ASTNode,
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  GraphQLError,
  Kind,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
  visit,
} from 'graphql';

/** Page size assumed for a list field whose `first` is a variable or absent (parseLimit's maximum). */
const ASSUMED_PAGE = 100;

/**
 * How deep an introspection subtree may nest whatever `maxDepth` is: the standard introspection query
 * (graphql's getIntrospectionQuery, what GraphiQL and codegen send) nests 15 levels through `ofType`. (graphql's
 * own MaxIntrospectionDepthRule already refuses `fields { type { fields … } } }` cycles; this bounds the rest.)
 */
export const INTROSPECTION_DEPTH = 15;

export interface QueryCost {
  /** the deepest path outside introspection subtrees */
  depth: number;
  /** the deepest path, introspection subtrees (`__schema`, `__type`) included */
  introspectionDepth: number;
  complexity: number;
}

/**
 * Depth and complexity of one selection set, fragments expanded. Complexity: every field costs 1; a field with a
 * `first` argument multiplies its sub-selection by `first` (a literal) or ASSUMED_PAGE (a variable: validation
 * runs before variables are known, so the worst case counts). Introspection fields (`__schema`, `__type`,
 * `__typename`) count like any other field: `__type { fields { type { fields … } } }` nests as deep as a client
 * likes, and a thousand aliased `__typename` cost as much to answer as any thousand fields. Their depth has its
 * own bound (INTROSPECTION_DEPTH) so that standard introspection passes.
 */
export function measure(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): QueryCost {
  let depth = 0;
  let introspectionDepth = 0;
  let complexity = 0;
  for (const sel of set.selections) {
    let cost: QueryCost;
    if (sel.kind === Kind.FIELD) {
      const child = sel.selectionSet ? measure(sel.selectionSet, fragments, seen) : { depth: 0, introspectionDepth: 0, complexity: 0 };
      const introspection = sel.name.value.startsWith('__');
      cost = {
        depth: introspection ? 0 : child.depth + 1,
        introspectionDepth: child.introspectionDepth + 1,
        complexity: 1 + multiplier(sel) * child.complexity,
      };
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
    introspectionDepth = Math.max(introspectionDepth, cost.introspectionDepth);
    complexity += cost.complexity;
  }
  return { depth, introspectionDepth, complexity };
}

/**
 * The root fields an operation selects, fragments expanded: each alias and `__typename` counts. With `name`, only
 * the root fields of that name (the aliases of one operation).
 */
export function rootFields(
  set: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode> | Record<string, FragmentDefinitionNode>,
  name?: string,
  seen = new Set<string>(),
): number {
  const fragmentOf = (n: string) => (fragments instanceof Map ? fragments.get(n) : fragments[n]);
  let n = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) n += name === undefined || sel.name.value === name ? 1 : 0;
    else if (sel.kind === Kind.INLINE_FRAGMENT) n += rootFields(sel.selectionSet, fragments, name, seen);
    else {
      const fragment = fragmentOf(sel.name.value);
      if (fragment && !seen.has(sel.name.value))
        n += rootFields(fragment.selectionSet, fragments, name, new Set([...seen, sel.name.value]));
    }
  }
  return n;
}

function multiplier(field: FieldNode): number {
  const first = field.arguments?.find((a) => a.name.value === 'first');
  if (!first) return 1;
  if (first.value.kind === Kind.INT) return Math.max(1, Number(first.value.value));
  return ASSUMED_PAGE;
}

export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
  /** most root fields per operation, and most aliases per document */
  maxRootFields: number;
}

/**
 * The width checks alone, on a parsed document and without a schema: too many aliases in the document or root
 * fields in an operation. They run before graphql's validation (see request-body.ts and the graphql-ws hooks),
 * whose rule for overlapping fields is quadratic in the number of same-named fields: a wide document is refused
 * before that work.
 */
export function widthRefusal(document: DocumentNode, maxRootFields: number): { message: string; reason: string } | null {
  let aliases = 0;
  visit(document, {
    Field(field) {
      if (field.alias) aliases++;
    },
  });
  if (aliases > maxRootFields)
    return { message: `the document names ${aliases} aliases; at most ${maxRootFields} are allowed`, reason: 'TOO_MANY_ALIASES' };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  for (const op of document.definitions) {
    if (op.kind !== Kind.OPERATION_DEFINITION) continue;
    const roots = rootFields(op.selectionSet, fragments);
    if (roots > maxRootFields)
      return {
        message: `${op.name?.value ?? 'the operation'} selects ${roots} root fields; at most ${maxRootFields} are allowed`,
        reason: 'TOO_MANY_ROOT_FIELDS',
      };
  }
  return null;
}

const refusal = (message: string, reason: string, nodes: ASTNode[]) =>
  new GraphQLError(message, { nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED', reason } });

/**
 * A validation rule: refuses a document with more aliases than `maxRootFields`, an operation with more root fields
 * than that, deeper than `maxDepth` or costlier than `maxComplexity`, before anything runs. The error surfaces as
 * BAD_INPUT with `extensions.reason` TOO_MANY_ALIASES, TOO_MANY_ROOT_FIELDS, QUERY_TOO_DEEP or QUERY_TOO_COMPLEX.
 */
export function queryLimits({ maxDepth, maxComplexity, maxRootFields }: QueryLimits): ValidationRule {
  return (context: ValidationContext) => {
    const document = context.getDocument();
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    let aliases = 0;
    visit(document, {
      Field(field) {
        if (field.alias) aliases++;
      },
    });
    if (aliases > maxRootFields) {
      context.reportError(refusal(`the document names ${aliases} aliases; at most ${maxRootFields} are allowed`, 'TOO_MANY_ALIASES', []));
      // one answer is enough: the operations are not measured
      return {};
    }
    return {
      OperationDefinition(op) {
        const cost = measure(op.selectionSet, fragments);
        const name = op.name?.value ?? 'the operation';
        const roots = rootFields(op.selectionSet, fragments);
        if (roots > maxRootFields)
          context.reportError(
            refusal(`${name} selects ${roots} root fields; at most ${maxRootFields} are allowed`, 'TOO_MANY_ROOT_FIELDS', [op]),
          );
        else if (cost.introspectionDepth > Math.max(maxDepth, INTROSPECTION_DEPTH))
          context.reportError(
            refusal(
              `${name} nests ${cost.introspectionDepth} levels deep; at most ${Math.max(maxDepth, INTROSPECTION_DEPTH)} are allowed`,
              'QUERY_TOO_DEEP',
              [op],
            ),
          );
        else if (cost.depth > maxDepth)
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
