import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which exchange notifications an RO has marked read (issue 14): the API's exchangeNotifications derives the list
 * from indexed tables and the access log, and this table only records, per RO (ro_id of ro_members) and
 * notification key (e.g. `xu:<block>:<logIndex>`), that one of its members marked it read. Written only by the
 * API (markExchangeNotificationsRead); a key whose event a reorg removed simply never matches again.
 */
export class ExchangeNotificationReads1765310000000 implements MigrationInterface {
  name = 'ExchangeNotificationReads1765310000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE exchange_notification_reads (
        chain_id     integer NOT NULL,
        ro_id        uuid NOT NULL,
        notification text NOT NULL CHECK (length(notification) <= 120),
        read_by      eth_address NOT NULL,
        read_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT exchange_notification_reads_pk PRIMARY KEY (chain_id, ro_id, notification)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE exchange_notification_reads`);
  }
}
