import type { DataSource, Logger } from 'typeorm';

/**
 * Records the SQL text a DataSource sends (every statement TypeORM runs, transaction control included), without
 * parameters, while `record()` runs a call. Used by sql-snapshots.spec.ts to snapshot what each repository method
 * sends; install it with `SqlRecorder.attach(dataSource)` before `initialize()`.
 */
export class SqlRecorder implements Logger {
  private current: string[] | null = null;

  static attach(ds: DataSource): SqlRecorder {
    const recorder = new SqlRecorder();
    ds.setOptions({ logger: recorder });
    return recorder;
  }

  /** The statements sent while `call` ran, normalised (see normaliseSql), in order. */
  async record(call: () => Promise<unknown>): Promise<string[]> {
    if (this.current) throw new Error('SqlRecorder: one recording at a time');
    this.current = [];
    try {
      await call();
      return this.current.map(normaliseSql);
    } finally {
      this.current = null;
    }
  }

  logQuery(query: string): void {
    this.current?.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/**
 * A statement as the repositories write it in template literals, made independent of the source's layout: each
 * line loses its leading and trailing spaces, blank lines (left by optional clauses) go. So moving a method, or
 * re-indenting it, changes no snapshot; any other change of the text does (and none of these changes what the
 * statement means: no string literal in the repositories spans lines).
 */
export function normaliseSql(sql: string): string {
  return sql
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('\n');
}
