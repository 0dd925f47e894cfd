import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './artifacts.js';
import { CONTRACT_ERRORS, CONTRACT_ERROR_CODES, NODE_REFUSALS, SAFE_ERRORS, classifyChainError } from './contract-errors.js';

/** Every custom error of every compiled ABI (contracts/out, test contracts included), by name. */
function abiErrors(): Map<string, string[]> {
  const out = join(repoRoot(), 'contracts', 'out');
  const byName = new Map<string, string[]>();
  for (const file of readdirSync(out).filter((f) => f.endsWith('.json'))) {
    const iface = new Interface(JSON.parse(readFileSync(join(out, file), 'utf8')).abi);
    iface.forEachError((fragment) => byName.set(fragment.name, [...(byName.get(fragment.name) ?? []), file.replace(/\.json$/, '')]));
  }
  return byName;
}

/** The GS0xx revert strings of the Safe contracts the treasury runs on (@safe-global/safe-contracts sources). */
function safeCodes(): Set<string> {
  const pkg = dirname(createRequire(import.meta.url).resolve('@safe-global/safe-contracts/package.json'));
  const codes = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.sol')) for (const m of readFileSync(path, 'utf8').matchAll(/"(GS\d{3})"/g)) codes.add(m[1]);
    }
  };
  walk(join(pkg, 'contracts'));
  return codes;
}

describe('the contract-error table', () => {
  it('has an entry for every custom error of every ABI in contracts/out, and none for errors no ABI has', () => {
    const errors = abiErrors();
    expect(errors.size).toBeGreaterThan(50);
    const missing = [...errors].filter(([name]) => !(name in CONTRACT_ERRORS)).map(([name, where]) => `${name} (${where.join(', ')})`);
    expect(missing, 'custom errors without a table entry').toEqual([]);
    expect(
      Object.keys(CONTRACT_ERRORS).filter((name) => !errors.has(name)),
      'table entries no ABI declares',
    ).toEqual([]);
  });

  it("has an entry for every Safe GS code, and none the Safe's sources do not use", () => {
    const codes = safeCodes();
    expect(codes.size).toBeGreaterThan(20);
    expect([...codes].filter((c) => !(c in SAFE_ERRORS)).sort()).toEqual([]);
    expect(Object.keys(SAFE_ERRORS).filter((c) => !codes.has(c))).toEqual([]);
  });

  it('maps to closed codes with a sentence each', () => {
    for (const [name, entry] of [...Object.entries(CONTRACT_ERRORS), ...Object.entries(SAFE_ERRORS)]) {
      expect(CONTRACT_ERROR_CODES, name).toContain(entry.code);
      expect(entry.message.length, name).toBeGreaterThan(10);
    }
  });

  it('classifies thrown errors: custom errors and Safe strings by the table, node refusals, outages', () => {
    const market = new Interface(['error StudyNotOpen(bytes32 studyId, uint8 status)', 'error Error(string)']);
    const notOpen = {
      code: 'CALL_EXCEPTION',
      info: { error: { data: market.encodeErrorResult('StudyNotOpen', [`0x${'11'.repeat(32)}`, 2]) } },
    };
    expect(classifyChainError(notOpen)).toMatchObject({
      kind: 'REVERTED',
      reason: 'StudyNotOpen',
      code: 'ALREADY_CLAIMED',
      message: CONTRACT_ERRORS.StudyNotOpen.message,
    });
    const gs026 = { code: 'CALL_EXCEPTION', data: market.encodeErrorResult('Error', ['GS026']) };
    expect(classifyChainError(gs026)).toMatchObject({
      kind: 'REVERTED',
      reason: 'GS026',
      code: 'CONFLICT',
      message: SAFE_ERRORS.GS026.message,
    });
    expect(classifyChainError({ code: 'CALL_EXCEPTION', data: null })).toMatchObject({ kind: 'REVERTED', reason: null, code: 'CONFLICT' });
    expect(classifyChainError({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'nonce too low' } }).kind).toBe('REFUSED');
    expect(classifyChainError({ code: 'INSUFFICIENT_FUNDS', shortMessage: 'insufficient funds' }).kind).toBe('REFUSED');
    expect(classifyChainError({ code: 'NETWORK_ERROR' }).kind).toBe('UNAVAILABLE');
    expect(classifyChainError({ code: 'TIMEOUT' }).kind).toBe('UNAVAILABLE');
    expect(classifyChainError(new Error('connect ECONNREFUSED 127.0.0.1:8545')).kind).toBe('UNAVAILABLE');
    expect(classifyChainError({ code: 'UNKNOWN_ERROR', cause: Object.assign(new Error('read'), { code: 'ECONNRESET' }) }).kind).toBe(
      'UNAVAILABLE',
    );
    expect(classifyChainError(new Error('something the node said')).kind).toBe('REFUSED');
  });

  it("names a node's refusal by a closed reason and a sentence; its own words (and free revert text) are kept out", () => {
    const refusal = (e: unknown) => {
      const f = classifyChainError(e);
      return f.kind === 'REFUSED' ? { reason: f.reason, message: f.message } : { reason: f.kind, message: f.message };
    };
    expect(refusal({ code: 'NONCE_EXPIRED', shortMessage: 'nonce has already been used' })).toEqual({
      reason: 'NONCE_TOO_LOW',
      message: NODE_REFUSALS.NONCE_TOO_LOW,
    });
    expect(refusal({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'nonce too low' } }).reason).toBe('NONCE_TOO_LOW');
    expect(refusal({ code: 'INSUFFICIENT_FUNDS', shortMessage: 'insufficient funds for intrinsic transaction cost' }).reason).toBe(
      'INSUFFICIENT_FUNDS',
    );
    expect(refusal({ code: 'REPLACEMENT_UNDERPRICED', shortMessage: 'replacement fee too low' }).reason).toBe('REPLACEMENT_UNDERPRICED');
    expect(refusal({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'already known' } }).reason).toBe('ALREADY_KNOWN');
    expect(refusal({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'oversized data' } }).reason).toBe('TRANSACTION_TOO_LARGE');
    expect(refusal({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'intrinsic gas too low' } }).reason).toBe('GAS_LIMIT');
    expect(refusal({ code: 'UNKNOWN_ERROR', error: { code: -32000, message: 'max fee per gas less than block base fee' } }).reason).toBe(
      'FEE_TOO_LOW',
    );
    const odd = classifyChainError({ code: 'UNKNOWN_ERROR', shortMessage: 'could not coalesce error', error: { message: 'boom' } });
    expect(odd).toMatchObject({ kind: 'REFUSED', reason: 'NODE_REFUSED', message: NODE_REFUSALS.NODE_REFUSED });
    expect(odd.kind === 'REFUSED' && odd.detail).toBe('could not coalesce error');
    for (const f of Object.values(NODE_REFUSALS)) expect(f).not.toMatch(/coalesce|code=|execution reverted|\{/);
    // a revert string that is free text, or ethers' own panic wording, is not a reason a client sees
    const market = new Interface(['error Error(string)']);
    expect(classifyChainError({ code: 'CALL_EXCEPTION', data: market.encodeErrorResult('Error', ['bad thing: code=1']) })).toMatchObject({
      kind: 'REVERTED',
      reason: null,
      message: 'the transaction would revert',
    });
    expect(classifyChainError({ code: 'CALL_EXCEPTION', reason: 'Panic due to OVERFLOW(17)' })).toMatchObject({ reason: null });
    expect(classifyChainError({ code: 'CALL_EXCEPTION', reason: 'SomeName' })).toMatchObject({ reason: 'SomeName', code: 'CONFLICT' });
  });
});
