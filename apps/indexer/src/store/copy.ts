import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { EntityManager } from 'typeorm';

type Cell = string | number | boolean | null;

/** COPY text format: \N for null; backslash, tab, newline and carriage return escaped. */
function cell(v: Cell): string {
  if (v === null) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/**
 * Bulk insert through COPY FROM STDIN on the transaction's own connection (so it commits or rolls back with
 * the rest): several times faster than INSERT … SELECT unnest(…) for large batches, because nothing is parsed
 * as SQL arrays. Same constraints, triggers and domain checks as any insert.
 */
export async function copyRows(tx: EntityManager, table: string, columns: string[], rows: Cell[][]): Promise<void> {
  if (rows.length === 0) return;
  const client = await tx.queryRunner!.connect();
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  const chunks: string[] = [];
  let buf = '';
  for (const r of rows) {
    buf += r.map(cell).join('\t') + '\n';
    if (buf.length > 1 << 16) {
      chunks.push(buf);
      buf = '';
    }
  }
  if (buf) chunks.push(buf);
  await pipeline(Readable.from(chunks), stream);
}
