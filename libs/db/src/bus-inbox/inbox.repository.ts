// The bus inbox (libs/db/src/bus-inbox): bus_inbox is written only here, one row per (consumer, message ID).
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

/**
 * The consumer side of at-least-once delivery: a message ID is handled once per consumer, however often the
 * bus delivers it (redelivery after a missing ack, a relay that republished after a crash).
 */
@Injectable()
export class InboxRepository {
  constructor(private readonly db: DataSource) {}

  /** true the first time `consumer` sees `messageId`, false on every redelivery */
  async firstDelivery(consumer: string, messageId: string): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`INSERT INTO bus_inbox (consumer, message_id) VALUES (${consumer}, ${messageId}) ON CONFLICT ON CONSTRAINT bus_inbox_pk DO NOTHING RETURNING 1`,
    );
    return rows.length === 1;
  }

  async count(consumer: string): Promise<number> {
    const [{ n }] = await queryRows<{ n: number }>(this.db, sql`SELECT count(*)::int AS n FROM bus_inbox WHERE consumer = ${consumer}`);
    return n;
  }
}
