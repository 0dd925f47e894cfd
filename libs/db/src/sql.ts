import sql, { Sql, empty, join, raw } from 'sql-template-tag';

/**
 * Parameters by name, not by position: a query is written as `sql\`… WHERE chain_id = ${chainId}\`` and the tag
 * turns each interpolated value into the next placeholder ($1, $2, …) with the value beside it, so no statement
 * depends on the order of an array of parameters. Fragments nest (`${otherSql}`); `raw()` is for SQL text
 * (identifiers from a closed list, never input), `join()` for lists, `empty` for an absent clause.
 *
 * sql-template-tag (5.x: ESM, Node ≥ 14, no dependencies, maintained) rather than a helper of our own: it is the
 * small, widely used form of exactly this, and its `.text` is Postgres' `$n` syntax that `DataSource.query` takes.
 * A value used twice is sent twice (two placeholders); that is harmless for Postgres.
 */
export { sql, Sql, empty, join, raw };

/** Anything that runs SQL: the DataSource, or the EntityManager of a transaction. */
export interface Queryable {
  query(text: string, parameters?: unknown[]): Promise<unknown>;
}

/**
 * Runs a statement built with `sql` and returns its rows, typed by the caller's row interface (snake_case columns,
 * as Postgres names them). For an UPDATE or DELETE TypeORM answers [rows, count]: use `execute` for those.
 */
export async function queryRows<Row = Record<string, unknown>>(db: Queryable, statement: Sql): Promise<Row[]> {
  return (await execute<Row>(db, statement)).rows;
}

/** Runs a statement built with `sql`: its rows (RETURNING) and how many rows it touched (an UPDATE's, a DELETE's count). */
export async function execute<Row = Record<string, unknown>>(db: Queryable, statement: Sql): Promise<{ rows: Row[]; count: number }> {
  const result = await db.query(statement.text, statement.values);
  // TypeORM's Postgres driver answers [rows, rowCount] for UPDATE and DELETE, the rows alone otherwise
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number')
    return { rows: result[0] as Row[], count: result[1] };
  const rows = result as Row[];
  return { rows, count: rows.length };
}
