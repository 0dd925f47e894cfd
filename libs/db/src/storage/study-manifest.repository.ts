// The storage aggregate (libs/db/src/storage): study_manifests and study_chunks are written by the API's storage
// feature (apps/api/src/storage) through this repository, once per study, after every chunk is in the blob store and
// the manifest verified; nothing updates them. The chunks' bytes are in the blob store, never in Postgres.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

/** What a manifest row needs (a StudyManifest of #storage, which this library does not import). */
export interface ManifestToStore {
  merkleRoot: string;
  chunks: { hash: string; size: number }[];
}

export interface StoredManifestRow {
  studyId: string;
  merkleRoot: string;
  /** the manifest as the depositor sent it (verified) */
  manifest: unknown;
  storedBy: string;
}

@Injectable()
export class StudyManifestRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Stores a study's manifest and its chunk list in one statement, once: 'STORED', or 'SAME' when this root is
   * stored already (a retry), or 'OTHER' when another manifest is.
   */
  async store(chainId: number, studyId: string, manifest: ManifestToStore, storedBy: string): Promise<'STORED' | 'SAME' | 'OTHER'> {
    const id = studyId.toLowerCase();
    const root = manifest.merkleRoot.toLowerCase();
    const hashes = manifest.chunks.map((c) => c.hash);
    const sizes = manifest.chunks.map((c) => c.size);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    const inserted = await queryRows(
      this.db,
      sql`WITH m AS (
         INSERT INTO study_manifests (chain_id, study_id, merkle_root, chunk_count, stored_bytes, manifest, stored_by)
         VALUES (${chainId}, ${id}, ${root}, ${hashes.length}, ${bytes}, ${JSON.stringify(manifest)}::jsonb, ${storedBy.toLowerCase()})
         ON CONFLICT ON CONSTRAINT study_manifests_pk DO NOTHING RETURNING chain_id, study_id
       ), c AS (
         INSERT INTO study_chunks (chain_id, study_id, chunk_index, hash, size)
         SELECT m.chain_id, m.study_id, t.i - 1, t.hash, t.size
         FROM m, unnest(${hashes}::text[], ${sizes}::int[]) WITH ORDINALITY AS t(hash, size, i)
         RETURNING 1
       )
       SELECT 1 FROM m`,
    );
    if (inserted.length === 1) return 'STORED';
    const existing = await this.manifest(chainId, id);
    return existing?.merkleRoot === root ? 'SAME' : 'OTHER';
  }

  /** A study's stored manifest (null: none yet). */
  async manifest(chainId: number, studyId: string): Promise<StoredManifestRow | null> {
    const rows = await queryRows<{ study_id: string; merkle_root: string; manifest: unknown; stored_by: string }>(
      this.db,
      sql`SELECT study_id, merkle_root, manifest, stored_by FROM study_manifests
       WHERE chain_id = ${chainId} AND study_id = ${studyId.toLowerCase()}`,
    );
    const r = rows[0];
    return r ? { studyId: r.study_id, merkleRoot: r.merkle_root, manifest: r.manifest, storedBy: r.stored_by } : null;
  }

  /** The stored size of chunk `hash` if the study's manifest lists it, else null. */
  async chunkSize(chainId: number, studyId: string, hash: string): Promise<number | null> {
    const rows = await queryRows<{ size: number }>(
      this.db,
      sql`SELECT size FROM study_chunks WHERE chain_id = ${chainId} AND study_id = ${studyId.toLowerCase()} AND hash = ${hash} LIMIT 1`,
    );
    return rows[0]?.size ?? null;
  }
}
