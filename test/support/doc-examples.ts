import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  GraphQLSchema,
  IntrospectionQuery,
  Kind,
  OperationDefinitionNode,
  buildClientSchema,
  getIntrospectionQuery,
  parse,
  validate,
} from 'graphql';

/**
 * The documentation's examples as code: fenced blocks are read from the Markdown pages and run or validated, so the
 * pages cannot drift from the product (docs/api/README.md, "How the examples on these pages run").
 */
export interface Block {
  page: string;
  /** 1-based line of the opening fence */
  line: number;
  lang: string;
  /** info-string words after the language, e.g. `norun` */
  flags: string[];
  code: string;
}

const REPO = join(import.meta.dirname, '..', '..');

export function readBlocks(page: string): Block[] {
  const lines = readFileSync(join(REPO, page), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open || !open[1]) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${page}:${start + 1}: unclosed code block`);
    blocks.push({ page, line: start + 1, lang: open[1], flags: open[2].split(/\s+/).filter(Boolean), code: body.join('\n') });
  }
  return blocks;
}

export const runs = (b: Block) => !b.flags.includes('norun');

/** Named operations of the page's ```graphql blocks: name → the operation's text exactly as the page shows it. */
export function namedOperations(blocks: Block[]): Map<string, string> {
  const ops = new Map<string, string>();
  for (const b of blocks.filter((x) => x.lang === 'graphql' && runs(x))) {
    for (const def of parse(b.code).definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION || !def.name) continue;
      if (ops.has(def.name.value)) throw new Error(`${b.page}:${b.line}: operation ${def.name.value} is defined twice`);
      ops.set(def.name.value, b.code.slice(def.loc!.start, def.loc!.end));
    }
  }
  return ops;
}

/** The API's schema as its clients see it (introspection over HTTP, built in this module's copy of graphql). */
export async function fetchSchema(url: string, fetchImpl: typeof fetch = fetch): Promise<GraphQLSchema> {
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery() }),
  });
  const { data, errors } = (await res.json()) as { data: IntrospectionQuery; errors?: unknown[] };
  if (errors?.length) throw new Error(`introspection failed: ${JSON.stringify(errors)}`);
  return buildClientSchema(data);
}

/** Every operation of every ```graphql block (without norun) checked against the schema, one by one; the problems. */
export function validateGraphqlBlocks(schema: GraphQLSchema, blocks: Block[]): string[] {
  const problems: string[] = [];
  for (const b of blocks.filter((x) => x.lang === 'graphql' && runs(x))) {
    let doc;
    try {
      doc = parse(b.code);
    } catch (e) {
      problems.push(`${b.page}:${b.line}: ${(e as Error).message}`);
      continue;
    }
    const fragments = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
    for (const op of doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)) {
      for (const err of validate(schema, { ...doc, definitions: [op, ...fragments] }))
        problems.push(`${b.page}:${b.line}: ${op.name?.value ?? 'anonymous operation'}: ${err.message}`);
    }
  }
  return problems;
}

/**
 * One module from the ```ts blocks of `pages`, in order: their imports hoisted (named imports of one module merged),
 * every named operation of the pages as a constant of its name, the rest as the body of `run()`.
 */
export function journeyModule(pages: string[]): { source: string; operations: Map<string, string> } {
  const blocks = pages.flatMap(readBlocks);
  const operations = namedOperations(blocks);
  const named = new Map<string, Set<string>>();
  const other = new Set<string>();
  const body: string[] = [];
  for (const b of blocks.filter((x) => x.lang === 'ts' && runs(x))) {
    body.push(`// ${b.page}:${b.line}`);
    // import statements (one or more lines, up to the `from '…';`)
    const code = b.code.replace(/^import\s[\s\S]*?from\s+'[^']+';?\s*$/gm, (stmt) => {
      const m = /^import\s*\{([\s\S]*)\}\s*from\s*'([^']+)'/.exec(stmt);
      if (m) {
        const set = named.get(m[2]) ?? new Set<string>();
        for (const n of m[1]
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean))
          set.add(n);
        named.set(m[2], set);
      } else other.add(stmt.trim().replace(/;?$/, ';'));
      return '';
    });
    body.push(code);
  }
  const imports = [...other, ...[...named].map(([mod, names]) => `import { ${[...names].join(', ')} } from '${mod}';`)];
  const consts = [...operations].map(([name, text]) => `const ${name} = ${JSON.stringify(text)};`);
  const source = [
    '// generated by test/support/doc-examples.ts from ' + pages.join(', ') + ': edit the pages, not this file',
    ...imports,
    '',
    'export default async function run(): Promise<void> {',
    ...consts,
    ...body,
    '}',
    '',
  ].join('\n');
  return { source, operations };
}

/**
 * Writes the journey module to test/.generated (two levels below the repository, like docs/api, so the pages'
 * relative imports resolve the same), imports and runs it. Returns the operation names the page defines.
 */
export async function runJourney(pages: string[]): Promise<Map<string, string>> {
  const { source, operations } = journeyModule(pages);
  const dir = join(REPO, 'test', '.generated');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${basename(pages[pages.length - 1], '.md')}.journey.ts`);
  writeFileSync(file, source);
  const mod = (await import(/* @vite-ignore */ `${pathToFileURL(file).href}?t=${Date.now()}`)) as { default: () => Promise<void> };
  await mod.default();
  return operations;
}
