import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// contracts/out is committed so that a fresh clone compiles nothing (see scripts/compile-contracts.mjs). This compiles
// the current sources again (into memory) and fails when the committed artifacts or their hash differ from them.
describe('committed contract artifacts', () => {
  it('contracts/out is exactly what the current sources compile to', async () => {
    const script = join(import.meta.dirname, '..', '..', 'scripts', 'compile-contracts.mjs');
    const result = await promisify(execFile)(process.execPath, [script, '--check']).catch((e: { stdout: string; stderr: string }) => e);
    expect(result.stderr).not.toMatch(/stale/);
    expect(result.stdout).toMatch(/contracts\/out matches the sources/);
  });
});
