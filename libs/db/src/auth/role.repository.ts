import { Injectable } from '@nestjs/common';
import { id } from 'ethers';
import { DataSource } from 'typeorm';
import { queryRows, sql } from '../sql.js';

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
    const [r] = await queryRows<{ credentialed: boolean; verifier: boolean; ro_billing: boolean; ro_depositor: boolean }>(
      this.db,
      sql`SELECT
         EXISTS (SELECT 1 FROM credentials WHERE chain_id = ${chainId} AND radiologist = ${account} AND NOT revoked) AS credentialed,
         EXISTS (SELECT 1 FROM contract_roles WHERE chain_id = ${chainId} AND account = ${account} AND contract = ${registry} AND role = ${VERIFIER_ROLE}) AS verifier,
         EXISTS (SELECT 1 FROM ro_members WHERE chain_id = ${chainId} AND account = ${account} AND role = 'BILLING') AS ro_billing,
         EXISTS (SELECT 1 FROM ro_members WHERE chain_id = ${chainId} AND account = ${account} AND role = 'DEPOSITOR') AS ro_depositor`,
    );
    return { credentialed: r.credentialed, verifier: r.verifier, roBilling: r.ro_billing, roDepositor: r.ro_depositor };
  }
}
