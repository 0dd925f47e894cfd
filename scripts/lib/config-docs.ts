import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import type { z } from 'zod';
import { configSchema } from '#config';

/**
 * docs/configuration.md, rendered from the zod schema (meaning: each setting's `.describe()`, default: its
 * `.default()`) and from configFromEnv (which environment variable fills which setting, and fallbacks computed
 * there), so the page cannot drift from the code. `npm run docs:config` writes it; test/configuration-docs.test.ts
 * fails when the committed page differs.
 */
export const CONFIG_DOC = 'docs/configuration.md';
const CONFIG_SOURCE = join(import.meta.dirname, '..', '..', 'libs', 'config', 'src', 'config.ts');

export interface Setting {
  /** path in AppConfig, e.g. api.port */
  path: string;
  env: string[];
  /** the default shown: zod's, or the fallback configFromEnv computes; '' when required */
  default: string;
  required: boolean;
  description: string | undefined;
}

/** A zod schema as configSchema builds them (zod classic); `s.description` is classic's. */
type AnySchema = z.ZodType;

/** Every zod schema is one of zod's own kinds: its definition is then a union discriminated by `type`. */
const defOf = (s: AnySchema) => s._zod.def as z.core.$ZodTypes['_zod']['def'];

/** The leaves of the schema with their description and default, unwrapping optional/default/pipe wrappers. */
function leaves(schema: AnySchema, path: string[], out: Omit<Setting, 'env'>[]): void {
  let s = schema;
  let description: string | undefined;
  let dflt: unknown;
  let optional = false;
  for (;;) {
    description ??= s.description;
    const def = defOf(s);
    if (def.type === 'default') {
      dflt ??= def.defaultValue;
      s = def.innerType as AnySchema;
    } else if (def.type === 'prefault') {
      s = def.innerType as AnySchema;
    } else if (def.type === 'optional') {
      optional = true;
      s = def.innerType as AnySchema;
    } else if (def.type === 'pipe' && def.in._zod.def.type !== 'transform') {
      s = def.in as AnySchema;
    } else break;
  }
  const def = defOf(s);
  if (def.type === 'object') {
    for (const [k, v] of Object.entries(def.shape)) leaves(v as AnySchema, [...path, k], out);
    return;
  }
  const shown = dflt === undefined ? '' : Array.isArray(dflt) ? dflt.join(',') : String(dflt);
  out.push({ path: path.join('.'), default: shown, required: dflt === undefined && !optional && def.type !== 'unknown', description });
}

/** From configInput's source (what configFromEnv reads): setting path → the env variables its value is read from, and the fallback expression. */
function envMapping(): Map<string, { env: string[]; fallback?: string }> {
  const file = ts.createSourceFile(CONFIG_SOURCE, readFileSync(CONFIG_SOURCE, 'utf8'), ts.ScriptTarget.Latest, true);
  const fn = file.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === 'configInput');
  if (!fn?.body) throw new Error('configInput not found in libs/config/src/config.ts');
  const locals = new Map<string, ts.Expression>();
  let root: ts.ObjectLiteralExpression | undefined;
  const visit = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) locals.set(n.name.text, n.initializer);
    if (ts.isReturnStatement(n) && n.expression && ts.isObjectLiteralExpression(n.expression)) root = n.expression;
    ts.forEachChild(n, visit);
  };
  visit(fn.body);
  if (!root) throw new Error('configInput does not return an object literal');
  const envOf = (e: ts.Node, seen = new Set<string>()): string[] => {
    const found: string[] = [];
    const walk = (n: ts.Node) => {
      if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'env') found.push(n.name.text);
      else if (ts.isIdentifier(n) && locals.has(n.text) && !seen.has(n.text)) {
        seen.add(n.text);
        found.push(...envOf(locals.get(n.text)!, seen));
      }
      ts.forEachChild(n, walk);
    };
    walk(e);
    return [...new Set(found)];
  };
  const map = new Map<string, { env: string[]; fallback?: string }>();
  const walkObject = (o: ts.ObjectLiteralExpression, prefix: string[]) => {
    for (const p of o.properties) {
      if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) continue;
      const path = [...prefix, p.name.text];
      if (ts.isObjectLiteralExpression(p.initializer)) walkObject(p.initializer, path);
      else {
        let init: ts.Expression = p.initializer;
        // `apiPort` style locals: read through
        if (ts.isIdentifier(init) && locals.has(init.text)) init = locals.get(init.text)!;
        const coalesce = ts.isBinaryExpression(init) && init.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken ? init : undefined;
        const fallback = coalesce?.right;
        map.set(path.join('.'), {
          env: envOf(coalesce ? coalesce.left : init),
          fallback: fallback && fallbackText(fallback, locals),
        });
      }
    }
  };
  walkObject(root, []);
  return map;
}

/** `localhost:${apiPort}` → localhost:<API_PORT>; '4000' → 4000 */
function fallbackText(e: ts.Expression, locals: Map<string, ts.Expression>): string {
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
  if (ts.isTemplateExpression(e)) {
    const name = (x: ts.Expression) => {
      const init = ts.isIdentifier(x) ? locals.get(x.text) : undefined;
      const env = init && ts.isBinaryExpression(init) && ts.isPropertyAccessExpression(init.left) ? init.left.name.text : undefined;
      return env ? `<${env}>` : `<${x.getText()}>`;
    };
    return e.head.text + e.templateSpans.map((s) => name(s.expression) + s.literal.text).join('');
  }
  return e.getText();
}

export function settings(): Setting[] {
  const out: Omit<Setting, 'env'>[] = [];
  leaves(configSchema, [], out);
  const env = envMapping();
  return out.map((s) => {
    const m = env.get(s.path);
    return { ...s, env: m?.env ?? [], default: s.default || m?.fallback || '' };
  });
}

/** Problems that make the page incomplete: a setting without a description or without an environment variable. */
export function settingProblems(list = settings()): string[] {
  return list.flatMap((s) => [
    ...(s.description ? [] : [`${s.path}: no .describe() text in the config schema`]),
    ...(s.env.length ? [] : [`${s.path}: configFromEnv reads no environment variable for it`]),
  ]);
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function renderConfigDoc(list = settings()): string {
  const sections = new Map<string, Setting[]>();
  for (const s of list) {
    const section = s.path.includes('.') ? s.path.split('.')[0] : 'core';
    sections.set(section, [...(sections.get(section) ?? []), s]);
  }
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated by `npm run docs:config` from the zod schema in libs/config/src/config.ts (the meaning is each',
    "     setting's .describe(), the variable name comes from configFromEnv). Do not edit: change the schema and run it",
    '     again; test/configuration-docs.test.ts fails when this page differs from the schema. -->',
    '',
    'Every app reads these environment variables once at start and validates them with the schema; invalid',
    'configuration stops the app with every problem named (secrets are never echoed). `npm start` sets the chain,',
    'database and contract variables itself (fresh local chain and database) unless you set them. "required" means',
    'the app does not start without it.',
    '',
  ];
  for (const [section, rows] of sections) {
    lines.push(`## ${section}`, '', '| variable | default | meaning |', '|---|---|---|');
    for (const s of rows) {
      const dflt = s.default ? `\`${cell(s.default)}\`` : s.required ? 'required' : 'unset';
      lines.push(`| ${s.env.map((e) => `\`${e}\``).join(', ')} | ${dflt} | ${cell(s.description ?? '')} |`);
    }
    lines.push('');
  }
  lines.push(
    '## Read by `npm start` and the tools only',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    '| `EMBEDDED_PG_PORT` | `54329` | port of the embedded Postgres `npm start` runs when `DATABASE_URL` is unset |',
    '| `ANVIL_PORT` | `8545` | port of the anvil chain `npm start` runs when `RPC_URL` is unset |',
    "| `ANVIL_BLOCK_TIME` | `1` | seconds between the local chain's blocks when nobody transacts (0: a block per transaction only) |",
    '| `APP_RESTART_LIMIT`, `APP_RESTART_WINDOW_SECONDS` | `5`, `60` | `npm start` restarts an app that exits on its own (backoff from 0.5 s, doubling, at most 10 s); the limit-th exit of one app within the window stops the whole stack (exit code 1) |',
    '| `OPENREAD_STATE_DIR` | `.openread` | where `npm start` keeps local state (database, `deployment.json`, `anvil.pid`) |',
    '| `GOVERNANCE_VOTING_DELAY`, `GOVERNANCE_VOTING_PERIOD`, `GOVERNANCE_TIMELOCK_DELAY` | `1`, `300`, `120` | seconds: the local DAO `npm start` deploys |',
    '| `TEST_PG_URL` | `postgres://postgres@127.0.0.1:5432/postgres` | the Postgres the tests create throwaway databases in |',
    '| `FUZZ_STEPS`, `FUZZ_SEED` | `200` (`npm run test:fuzz`: 10000) | steps and seed of the escrow fuzz test |',
    '| `FAULT_RUN_LONG`, `FAULT_RUN_SEED` | unset | the indexer fault-injection run: 60 rounds, its seed |',
    '| `BENCH`, `BENCH_QUERIES`, `BENCH_CLAIM_ROUNDS` | all, `300`, `20` | which benchmark `npm run bench` runs (`gas`, `indexer`, `worklist`, `claim`), queries per worklist row, claim rounds |',
    '| `BENCH_EVENTS`, `BENCH_PER_BLOCK`, `BENCH_BATCH_BLOCKS`, `BENCH_POLL_MS`, `BENCH_LAG_SAMPLES` | `100000`, `500`, `10`, `100`, `20` | the indexer benchmark: events generated, events per block, blocks per backfill batch, indexer poll, lag samples |',
    '| `OPENREAD_API`, `OPENREAD_RPC`, `OPENREAD_DEPLOYMENT` | `http://localhost:4000/graphql`, `http://127.0.0.1:8545`, `.openread/deployment.json` | where the examples of docs/api/ find the API, the chain and the contract addresses |',
    '',
  );
  return lines.join('\n');
}
