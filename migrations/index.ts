import { Init1764255600000 } from './1764255600000-Init.js';
import { ContractRoles1764260000000 } from './1764260000000-ContractRoles.js';
import { Governance1764300000000 } from './1764300000000-Governance.js';
import { TreasuryProposals1764310000000 } from './1764310000000-TreasuryProposals.js';
import { IndexerReliability1764400000000 } from './1764400000000-IndexerReliability.js';
import { CredentialApplications1764500000000 } from './1764500000000-CredentialApplications.js';
import { RateLimits1764510000000 } from './1764510000000-RateLimits.js';
import { RelayOutbox1764510100000 } from './1764510100000-RelayOutbox.js';
import { WorklistIndex1764510200000 } from './1764510200000-WorklistIndex.js';
import { RoAccounts1764600000000 } from './1764600000000-RoAccounts.js';
import { StudyVault1764600100000 } from './1764600100000-StudyVault.js';
import { WorklistBounds1764700000000 } from './1764700000000-WorklistBounds.js';
import { LiveFeedHourIndex1764700100000 } from './1764700100000-LiveFeedHourIndex.js';
import { ClientLimitsAndPruning1764800000000 } from './1764800000000-ClientLimitsAndPruning.js';
import { TransactionOutbox1764900000000 } from './1764900000000-TransactionOutbox.js';
import { OneWalletPerNpi1764910000000 } from './1764910000000-OneWalletPerNpi.js';
import { RelayHardening1765100000000 } from './1765100000000-RelayHardening.js';
import { KeyBindings1765130000000 } from './1765130000000-KeyBindings.js';
import { CiphertextQuotas1765130100000 } from './1765130100000-CiphertextQuotas.js';
import { AppRole1765130200000 } from './1765130200000-AppRole.js';
import { AccessLogMerkle1765220000000 } from './1765220000000-AccessLogMerkle.js';
import { Exchange1765250000000 } from './1765250000000-Exchange.js';
import { LeasePackages1765260000000 } from './1765260000000-LeasePackages.js';
import { LeaseAccessLog1765290000000 } from './1765290000000-LeaseAccessLog.js';
import { ExchangeNotificationReads1765310000000 } from './1765310000000-ExchangeNotificationReads.js';
import { ClaimLeasePackages1765320000000 } from './1765320000000-ClaimLeasePackages.js';
import { StudyManifests1765330000000 } from './1765330000000-StudyManifests.js';
import { AuthChangeNotify1765370000000 } from './1765370000000-AuthChangeNotify.js';
import { CustodyRevocation1765380000000 } from './1765380000000-CustodyRevocation.js';

/** Every migration, in timestamp order. Listed explicitly: no globbing, so vitest and the compiled apps load the same set. */
export const migrations = [
  Init1764255600000,
  ContractRoles1764260000000,
  Governance1764300000000,
  TreasuryProposals1764310000000,
  IndexerReliability1764400000000,
  CredentialApplications1764500000000,
  RateLimits1764510000000,
  RelayOutbox1764510100000,
  WorklistIndex1764510200000,
  RoAccounts1764600000000,
  StudyVault1764600100000,
  WorklistBounds1764700000000,
  LiveFeedHourIndex1764700100000,
  ClientLimitsAndPruning1764800000000,
  TransactionOutbox1764900000000,
  OneWalletPerNpi1764910000000,
  RelayHardening1765100000000,
  KeyBindings1765130000000,
  CiphertextQuotas1765130100000,
  AppRole1765130200000,
  AccessLogMerkle1765220000000,
  Exchange1765250000000,
  LeasePackages1765260000000,
  LeaseAccessLog1765290000000,
  ExchangeNotificationReads1765310000000,
  ClaimLeasePackages1765320000000,
  StudyManifests1765330000000,
  AuthChangeNotify1765370000000,
  CustodyRevocation1765380000000,
];
