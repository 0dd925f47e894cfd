import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exchange lease packages (issue 14): what an RO agent stores for the requester of a StudyCustody lease it grants,
 * one row per lease. The agent inserts the sealed half before it sends grantLease (ciphertext and wrapped key, whose
 * hashes the grant records on chain), then adds the expiry LeaseGranted set and its EIP-712 signature of the terms:
 * a restarted agent finds a sealed, unsigned row and finishes it instead of sealing a second time. Ciphertext only:
 * the lease key exists only sealed to the requester's registered X25519 key. The requester reads a signed row and
 * checks it against the chain (openLease in #lease).
 */
export class LeasePackages1765260000000 implements MigrationInterface {
  name = 'LeasePackages1765260000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE lease_packages (
        chain_id         integer NOT NULL,
        lease_id         uint256 NOT NULL,
        study_id         bytes32 NOT NULL,
        requester        eth_address NOT NULL,
        custodian        eth_address NOT NULL,
        recipient_key_id uint256 NOT NULL,
        signer_key_id    uint256 NOT NULL,
        issued_at        bigint NOT NULL,
        ciphertext       bytea NOT NULL,
        wrapped_key      bytea NOT NULL,
        expires_at       bigint,
        signature        bytea,
        sealed_at        timestamptz NOT NULL DEFAULT now(),
        signed_at        timestamptz,
        CONSTRAINT lease_packages_pk PRIMARY KEY (chain_id, lease_id),
        CONSTRAINT lease_packages_signed_whole CHECK ((signature IS NULL) = (expires_at IS NULL) AND (signature IS NULL) = (signed_at IS NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE lease_packages`);
  }
}
