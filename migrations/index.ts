import { Init1764255600000 } from './1764255600000-Init.js';
import { ContractRoles1764260000000 } from './1764260000000-ContractRoles.js';
import { Governance1764300000000 } from './1764300000000-Governance.js';
import { IndexerReliability1764400000000 } from './1764400000000-IndexerReliability.js';
import { CredentialApplications1764500000000 } from './1764500000000-CredentialApplications.js';
import { RoAccounts1764600000000 } from './1764600000000-RoAccounts.js';
import { StudyVault1764600100000 } from './1764600100000-StudyVault.js';

/** Every migration, in order. Listed explicitly: no globbing, so vitest and the compiled apps load the same set. */
export const migrations = [
  Init1764255600000,
  ContractRoles1764260000000,
  Governance1764300000000,
  IndexerReliability1764400000000,
  CredentialApplications1764500000000,
  RoAccounts1764600000000,
  StudyVault1764600100000,
];
