import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_EXIT_CODE, Supervisor } from '../scripts/lib/supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'openread-supervisor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A script that writes a line to stderr and exits with `code` (real child processes, as `npm start` runs the apps). */
function exiting(code: number): string {
  const file = join(dir, `exit-${code}.mjs`);
  writeFileSync(file, `process.stderr.write('failing on purpose\\n'); process.exit(${code});\n`);
  return file;
}

function supervise(script: string) {
  const lines: string[] = [];
  let starts = 0;
  let resolveGiveUp: (reason: string) => void;
  const gaveUp = new Promise<string>((resolve) => (resolveGiveUp = resolve));
  const supervisor = new Supervisor({
    limit: 3,
    windowMs: 60_000,
    backoffMs: 20,
    maxBackoffMs: 50,
    onGiveUp: (reason) => resolveGiveUp(reason),
    log: (line) => {
      lines.push(line);
      if (/ restarted \(pid/.test(line)) starts++;
    },
  });
  supervisor.start('app', script, process.env);
  starts++;
  return { supervisor, lines, gaveUp, starts: () => starts };
}

describe('the launcher supervisor', () => {
  it('does not restart an app whose configuration is invalid (exit 2): it gives up at once and says why', async () => {
    const run = supervise(exiting(CONFIG_EXIT_CODE));
    const reason = await run.gaveUp;
    expect(reason).toMatch(/app exited with code 2: its configuration is invalid/);
    expect(run.starts()).toBe(1);
    expect(run.lines.join('\n')).toMatch(/app exited \(exit code 2\) after [\d.]+ s; its last stderr lines:\n {4}failing on purpose/);
    expect(run.lines.join('\n')).not.toContain('restarting');
  });

  it('restarts an app that crashes otherwise, and gives up after `limit` exits', async () => {
    const run = supervise(exiting(1));
    const reason = await run.gaveUp;
    expect(reason).toBe('app exited 3 times within 60 s');
    expect(run.starts()).toBe(3);
    expect(run.lines.filter((l) => l.startsWith('restarting app in'))).toHaveLength(2);
  });
});
