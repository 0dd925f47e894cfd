import { Injectable } from '@nestjs/common';
import { id } from 'ethers';
import { DataSource } from 'typeorm';

export const VERIFIER_ROLE = id('VERIFIER_ROLE');

export interface AccountFacts {
  /** holds a (not revoked) credential attestation */
  credentialed: boolean;
  /** holds VERIFIER_ROLE on the CredentialRegistry */
  verifier: boolean;
  /** billing staff of at least one RO (ro_members) */
  roBilling: boolean;
  /** a depositor (posting) wallet of an RO */
  roDepositor: boolean;
}

/** What the indexed chain says about an account, for role checks. One query. */
@Injectable()
export class RoleRepository {
  constructor(private readonly db: DataSource) {}

  async factsOf(chainId: number, account: string, registry: string): Promise<AccountFacts> {
    const [r] = await this.db.query(
      `SELECT
         EXISTS (SELECT 1 FROM credentials WHERE chain_id = $1 AND radiologist = $2 AND NOT revoked) AS credentialed,
         EXISTS (SELECT 1 FROM contract_roles WHERE chain_id = $1 AND account = $2 AND contract = $3 AND role = $4) AS verifier,
         EXISTS (SELECT 1 FROM ro_members WHERE chain_id = $1 AND account = $2 AND role = 'BILLING') AS ro_billing,
         EXISTS (SELECT 1 FROM ro_members WHERE chain_id = $1 AND account = $2 AND role = 'DEPOSITOR') AS ro_depositor`,
      [chainId, account, registry, VERIFIER_ROLE],
    );
    return { credentialed: r.credentialed, verifier: r.verifier, roBilling: r.ro_billing, roDepositor: r.ro_depositor };
  }
}
