import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stored studies' metadata (issue 15): the bytes are encrypted chunks in the blob store (BLOB_STORE), never here.
 * - study_manifests: the manifest an RO's depositor sent once every chunk it lists was stored and it verified
 *   (write-once per study); readers fetch it and check its root against the chain.
 * - study_chunks: the manifest's chunks, one row each, so that a chunk download is checked against its study by an
 *   index lookup (not by reading a manifest of up to ~100,000 chunks per request).
 */
export class StudyManifests1765330000000 implements MigrationInterface {
  name = 'StudyManifests1765330000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE study_manifests (
        chain_id      integer     NOT NULL,
        study_id      bytes32     NOT NULL,
        merkle_root   bytes32     NOT NULL,
        chunk_count   integer     NOT NULL CHECK (chunk_count > 0),
        stored_bytes  bigint      NOT NULL CHECK (stored_bytes >= 0),
        manifest      jsonb       NOT NULL,
        stored_by     eth_address NOT NULL,
        stored_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT study_manifests_pk PRIMARY KEY (chain_id, study_id)
      )`);
    await q.query(`
      CREATE TABLE study_chunks (
        chain_id    integer NOT NULL,
        study_id    bytes32 NOT NULL,
        chunk_index integer NOT NULL CHECK (chunk_index >= 0),
        hash        text    NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        size        integer NOT NULL CHECK (size > 0),
        CONSTRAINT study_chunks_pk PRIMARY KEY (chain_id, study_id, chunk_index),
        CONSTRAINT study_chunks_manifest_fk FOREIGN KEY (chain_id, study_id) REFERENCES study_manifests (chain_id, study_id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX study_chunks_by_hash ON study_chunks (chain_id, study_id, hash)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE study_chunks`);
    await q.query(`DROP TABLE study_manifests`);
  }
}
