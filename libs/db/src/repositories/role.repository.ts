import { Injectable } from '@nestjs/common';
import { id } from 'ethers';
import { DataSource } from 'typeorm';

export const VERIFIER_ROLE = id('VERIFIER_ROLE');

export interface AccountFacts {
  /** holds a (not revoked) credential attestation */
  credentialed: boolean;
  /** holds VERIFIER_ROLE on the CredentialRegistry */
  verifier: boolean;
  /** has a market balance history (deposited / posted): an RO account */
  ro: boolean;
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
         EXISTS (SELECT 1 FROM ledger_entries WHERE chain_id = $1 AND account = $2 AND kind IN ('DEPOSIT', 'ESCROW')) AS ro`,
      [chainId, account, registry, VERIFIER_ROLE],
    );
    return { credentialed: r.credentialed, verifier: r.verifier, ro: r.ro };
  }
}
