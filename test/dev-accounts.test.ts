import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const TEST_DIR = join(ROOT, 'test');

/**
 * Ways a test could name a dev account by its bare number instead of its role in DEV_ROLES (#devchain): a call that
 * takes an account number given a literal, a literal list of them mapped to wallets, or the HD path itself.
 */
const BARE_ACCOUNT = [
  /\b(devWallet|devKey|w|as|client|signedIn|market|signature|sign|tokenOf|marketBalance|withId)\(\s*\d/,
  /claimThroughApi\(stack, \w+, \d/,
  /\[\s*\d{1,2}(\s*,\s*\d{1,2})+\s*\]\.map\(\(i\) => (devWallet|devKey|w|as|client)\(/,
  /for \(const i of \[\s*\d{1,2}(\s*,\s*\d{1,2})*\s*\]\)/,
  /m\/44'\/60'\/0'\/0\//,
];

/** The test sources (not test/.generated/: docs-examples writes the docs' journeys there, as the docs show them). */
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.name.startsWith('.') ? [] : e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

describe('dev accounts', () => {
  it('the tests name every dev account by its role in DEV_ROLES, never by a bare account number', () => {
    const found = sources(TEST_DIR)
      .filter((f) => f !== import.meta.filename)
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (BARE_ACCOUNT.some((re) => re.test(line)) ? [`${relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(found).toEqual([]);
  });

  it('recognises a bare account number (the check above can fail)', () => {
    const bare = [
      'devWallet(3, provider)',
      'withId(2, id, 1)',
      'w(2).address',
      'const readers = [10, 11].map((i) => devWallet(i, p));',
      'for (const i of [2, 5]) {',
      'claimThroughApi(stack, reader, 3, id)',
      "`m/44'/60'/0'/0/${i}`",
    ];
    for (const line of bare)
      expect(
        BARE_ACCOUNT.some((re) => re.test(line)),
        line,
      ).toBe(true);
    expect(BARE_ACCOUNT.some((re) => re.test('devWallet(DEV_ROLES.roDepositor, provider)'))).toBe(false);
  });
});
