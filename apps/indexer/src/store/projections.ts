import type { EntityManager } from 'typeorm';
import { MODALITIES, URGENCIES, US_STATES, fromMask, LedgerLine, StudyBefore, ledgerLinesOf } from '#domain';
import type { ChainEvent, EventArgValue } from '#db';
import { copyRows } from './copy.js';

/**
 * The projections (studies, credentials, incentive parameters and their history, ledger, governance proposals
 * and votes, members' voting power, contract roles) as a function of the event sequence,
 * set-based: a batch of events is grouped into runs of one kind that touch distinct entities (runsOf), and each
 * run is one SQL statement over arrays (unnest). Applying a run at once is the same as applying its events one
 * by one, because no event of a run reads what another one writes.
 * Ledger rows are collected and inserted at the end (nothing in a batch reads them); they belong to new events
 * only, so a conflict there is an error, never silently skipped.
 *
 * Every projected row is a function of its own entity's events only (a study of its study's events, a
 * credential of its radiologist's, a parameter of its name/key's, a proposal (with its votes) of its proposal's,
 * a member's voting power of its DelegateVotesChanged, a role grant of that contract/role/account's grants and
 * revocations), which is what lets a reorg roll back by deleting the touched entities and replaying their
 * remaining events (EventStore.rollback). Two rows are per event instead, and a rollback deletes them by block:
 * ledger rows and parameter_changes (the history). The one cross-entity write, a parameter change's proposal
 * (set by the ProposalExecuted of the same transaction), runs after all runs of a batch (attributeProposals),
 * and both of its rows are in the same block, so they are removed and replayed together.
 */

type Arg = EventArgValue;
const str = (v: Arg) => String(v);
const num = (v: Arg) => Number(v);

export const STUDY_EVENTS = [
  'StudyPosted', 'StudyClaimed', 'LeaseExpired', 'ReportSubmitted', 'StudyDisputed', 'StudySettled', 'DisputeResolved', 'StudyCancelled',
];
export const CREDENTIAL_EVENTS = ['CredentialAttested', 'CredentialRevoked'];
export const PARAMETER_EVENTS = ['ParameterUpdated'];
/** OpenZeppelin 5 Governor events (Tally-compatible), into governance_proposals / governance_votes */
export const GOVERNANCE_EVENTS = ['ProposalCreated', 'VoteCast', 'VoteCastWithParams', 'ProposalExtended', 'ProposalQueued', 'ProposalExecuted', 'ProposalCanceled'];
/** the membership token's voting power (who is a DAO member), into dao_votes */
export const VOTING_POWER_EVENTS = ['DelegateVotesChanged'];
/** AccessControl roles on OpenRead's contracts (e.g. verifiers), into contract_roles */
export const ROLE_EVENTS = ['RoleGranted', 'RoleRevoked'];
/** Low-volume kinds that a rollback replays by entity key (see EventStore.rollback and deleteEntities). */
export const REPLAYED_BY_ENTITY = [...GOVERNANCE_EVENTS, ...VOTING_POWER_EVENTS, ...ROLE_EVENTS];

/** The entity an event's projection writes (null: it only appends ledger rows, or nothing). Keys never contain ':' inside a part. */
export function entityOf(e: ChainEvent): string | null {
  if (STUDY_EVENTS.includes(e.name)) return `study:${e.args.studyId}`;
  if (CREDENTIAL_EVENTS.includes(e.name)) return `credential:${e.args.radiologist}`;
  if (PARAMETER_EVENTS.includes(e.name)) return `parameter:${e.args.name}:${e.args.key}`;
  if (GOVERNANCE_EVENTS.includes(e.name)) return `proposal:${e.contract}:${e.args.proposalId}`;
  if (VOTING_POWER_EVENTS.includes(e.name)) return `votes:${e.contract}:${e.args.delegate}`;
  if (ROLE_EVENTS.includes(e.name)) return `role:${e.contract}:${e.args.role}:${e.args.account}`;
  return null;
}

/** Deletes the rows of low-volume entities (keys from entityOf) before a rollback replays their remaining events. */
export async function deleteEntities(tx: EntityManager, chainId: number, keys: string[]): Promise<void> {
  const parts = (kind: string) => keys.filter((k) => k.startsWith(`${kind}:`)).map((k) => k.split(':').slice(1));
  const proposals = parts('proposal');
  if (proposals.length) {
    const [governors, ids] = [proposals.map((p) => p[0]), proposals.map((p) => p[1])];
    for (const table of ['governance_votes', 'governance_proposals'])
      await tx.query(
        `DELETE FROM ${table} t USING (SELECT unnest($2::text[]) AS governor, unnest($3::numeric[]) AS proposal_id) AS v
         WHERE t.chain_id = $1 AND t.governor = v.governor AND t.proposal_id = v.proposal_id`,
        [chainId, governors, ids],
      );
  }
  const votes = parts('votes');
  if (votes.length)
    await tx.query(
      `DELETE FROM dao_votes t USING (SELECT unnest($2::text[]) AS token, unnest($3::text[]) AS account) AS v
       WHERE t.chain_id = $1 AND t.token = v.token AND t.account = v.account`,
      [chainId, votes.map((p) => p[0]), votes.map((p) => p[1])],
    );
  const roles = parts('role');
  if (roles.length)
    await tx.query(
      `DELETE FROM contract_roles t USING (SELECT unnest($2::text[]) AS contract, unnest($3::text[]) AS role, unnest($4::text[]) AS account) AS v
       WHERE t.chain_id = $1 AND t.contract = v.contract AND t.role = v.role AND t.account = v.account`,
      [chainId, roles.map((p) => p[0]), roles.map((p) => p[1]), roles.map((p) => p[2])],
    );
}

interface LedgerRow extends LedgerLine {
  e: ChainEvent;
}

/** Appends the event's ledger lines (the mapping billing's reconciliation recomputes from the chain: libs/domain ledger.ts). */
const linesOf = (ledger: LedgerRow[], e: ChainEvent, before?: StudyBefore | null) => {
  for (const l of ledgerLinesOf(e, before)) ledger.push({ ...l, e });
};

type Runner = (tx: EntityManager, chainId: number, run: ChainEvent[], ledger: LedgerRow[]) => Promise<void>;

const col = <T>(run: ChainEvent[], f: (e: ChainEvent) => T) => run.map(f);

const RUNNERS: Record<string, Runner> = {
  async StudyPosted(tx, chainId, run, ledger) {
    await copyRows(
      tx,
      'studies',
      ['chain_id', 'study_id', 'ro', 'modality', 'difficulty_bps', 'urgency', 'patient_state', 'max_bounty', 'posted_at', 'status', 'posted_tx', 'posted_block', 'updated_block'],
      run.map((e) => [
        chainId,
        str(e.args.studyId),
        str(e.args.ro),
        MODALITIES[num(e.args.modality)],
        num(e.args.difficultyBps),
        URGENCIES[num(e.args.urgency)],
        US_STATES[num(e.args.patientState)],
        str(e.args.maxBounty),
        num(e.args.postedAt),
        'OPEN',
        e.txHash,
        e.blockNumber,
        e.blockNumber,
      ]),
    );

    for (const e of run) linesOf(ledger, e);
  },

  async StudyClaimed(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'CLAIMED', radiologist = v.radiologist, locked_bounty = v.bounty, fee_bps = v.fee_bps,
              claimed_at = v.claimed_at, lease_expires_at = v.lease_expires_at, updated_block = v.block
       FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::text[]) AS radiologist, unnest($4::numeric[]) AS bounty, unnest($5::int[]) AS fee_bps, unnest($6::bigint[]) AS claimed_at, unnest($7::bigint[]) AS lease_expires_at, unnest($8::bigint[]) AS block) AS v
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => str(e.args.bounty)),
        col(run, (e) => num(e.args.feeBps)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.leaseExpiresAt)),
        col(run, (e) => e.blockNumber),
      ],
    );
    for (const e of run) linesOf(ledger, e);
  },

  async LeaseExpired(tx, chainId, run, ledger) {
    // all parts of one statement see the same snapshot: `old` has the values before the update
    const rows: { study_id: string; ro: string; locked_bounty: string | null }[] = await tx.query(
      `WITH v AS (SELECT * FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::bigint[]) AS block) AS v),
       old AS (SELECT s.study_id, s.ro, s.locked_bounty FROM studies s JOIN v ON v.study_id = s.study_id WHERE s.chain_id = $1),
       upd AS (
         UPDATE studies s SET status = 'OPEN', radiologist = NULL, locked_bounty = NULL, fee_bps = NULL, claimed_at = NULL,
                lease_expires_at = NULL, updated_block = v.block
         FROM v WHERE s.chain_id = $1 AND s.study_id = v.study_id RETURNING s.study_id)
       SELECT old.* FROM old JOIN upd USING (study_id)`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)],
    );
    const old = new Map(rows.map((r) => [r.study_id, r]));
    for (const e of run) {
      const s = old.get(str(e.args.studyId));
      linesOf(ledger, e, s && { ro: s.ro, radiologist: null, lockedBounty: s.locked_bounty });
    }
  },

  async ReportSubmitted(tx, chainId, run) {
    await tx.query(
      `UPDATE studies s SET status = 'REPORTED', report_hash = v.report_hash, reported_at = v.reported_at,
              dispute_deadline = v.dispute_deadline, updated_block = v.block
       FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::text[]) AS report_hash, unnest($4::bigint[]) AS reported_at, unnest($5::bigint[]) AS dispute_deadline, unnest($6::bigint[]) AS block) AS v
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.reportHash)),
        col(run, (e) => e.blockTime),
        col(run, (e) => num(e.args.disputeDeadline)),
        col(run, (e) => e.blockNumber),
      ],
    );
  },

  async StudyDisputed(tx, chainId, run, ledger) {
    const rows: { study_id: string; locked_bounty: string | null; radiologist: string | null }[] = await tx.query(
      `WITH upd AS (
         UPDATE studies s SET status = 'DISPUTED', updated_block = v.block
         FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::bigint[]) AS block) AS v
         WHERE s.chain_id = $1 AND s.study_id = v.study_id
         RETURNING s.study_id, s.locked_bounty, s.radiologist)
       SELECT * FROM upd`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => e.blockNumber)],
    );
    const byId = new Map(rows.map((r) => [r.study_id, r]));
    for (const e of run) {
      const s = byId.get(str(e.args.studyId));
      linesOf(ledger, e, s && { ro: str(e.args.ro), radiologist: s.radiologist, lockedBounty: s.locked_bounty });
    }
  },

  async StudySettled(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'SETTLED', payout = v.payout, fee = v.fee, refund = v.refund, settled_at = v.settled_at,
              updated_block = v.block
       FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::numeric[]) AS payout, unnest($4::numeric[]) AS fee, unnest($5::numeric[]) AS refund, unnest($6::bigint[]) AS settled_at, unnest($7::bigint[]) AS block) AS v
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [
        chainId,
        col(run, (e) => str(e.args.studyId)),
        col(run, (e) => str(e.args.payout)),
        col(run, (e) => str(e.args.fee)),
        col(run, (e) => str(e.args.refund)),
        col(run, (e) => e.blockTime),
        col(run, (e) => e.blockNumber),
      ],
    );
    for (const e of run) linesOf(ledger, e);
  },

  // the arbiter's (or timelock's) split of a disputed study: the same fields and the same projection as a settlement
  async DisputeResolved(tx, chainId, run, ledger) {
    await RUNNERS.StudySettled(tx, chainId, run, ledger);
  },

  async StudyCancelled(tx, chainId, run, ledger) {
    await tx.query(
      `UPDATE studies s SET status = 'CANCELLED', refund = v.refund, settled_at = v.settled_at, updated_block = v.block
       FROM (SELECT unnest($2::text[]) AS study_id, unnest($3::numeric[]) AS refund, unnest($4::bigint[]) AS settled_at, unnest($5::bigint[]) AS block) AS v
       WHERE s.chain_id = $1 AND s.study_id = v.study_id`,
      [chainId, col(run, (e) => str(e.args.studyId)), col(run, (e) => str(e.args.refund)), col(run, (e) => e.blockTime), col(run, (e) => e.blockNumber)],
    );
    for (const e of run) linesOf(ledger, e);
  },

  async Deposited(_tx, _chainId, run, ledger) {
    for (const e of run) linesOf(ledger, e);
  },

  async Withdrawn(_tx, _chainId, run, ledger) {
    for (const e of run) linesOf(ledger, e);
  },

  async CredentialAttested(tx, chainId, run) {
    await tx.query(
      `INSERT INTO credentials (chain_id, radiologist, states, modalities, expires_at, revoked, verifier, updated_block)
       SELECT $1::int, v.radiologist, string_to_array(v.states, ','), string_to_array(v.modalities, ','), v.expires_at, false, v.verifier, v.block
       FROM (SELECT unnest($2::text[]) AS radiologist, unnest($3::text[]) AS states, unnest($4::text[]) AS modalities, unnest($5::bigint[]) AS expires_at, unnest($6::text[]) AS verifier, unnest($7::bigint[]) AS block) AS v
       ON CONFLICT ON CONSTRAINT credentials_pk DO UPDATE
         SET states = EXCLUDED.states, modalities = EXCLUDED.modalities, expires_at = EXCLUDED.expires_at,
             revoked = false, verifier = EXCLUDED.verifier, updated_block = EXCLUDED.updated_block`,
      [
        chainId,
        col(run, (e) => str(e.args.radiologist)),
        col(run, (e) => fromMask(US_STATES, BigInt(str(e.args.statesMask))).join(',')),
        col(run, (e) => fromMask(MODALITIES, BigInt(str(e.args.modalitiesMask))).join(',')),
        col(run, (e) => num(e.args.expiresAt)),
        col(run, (e) => str(e.args.verifier)),
        col(run, (e) => e.blockNumber),
      ],
    );
  },

  async CredentialRevoked(tx, chainId, run) {
    await tx.query(
      `UPDATE credentials c SET revoked = true, verifier = v.verifier, updated_block = v.block
       FROM (SELECT unnest($2::text[]) AS radiologist, unnest($3::text[]) AS verifier, unnest($4::bigint[]) AS block) AS v
       WHERE c.chain_id = $1 AND c.radiologist = v.radiologist`,
      [chainId, col(run, (e) => str(e.args.radiologist)), col(run, (e) => str(e.args.verifier)), col(run, (e) => e.blockNumber)],
    );
  },

  async ParameterUpdated(tx, chainId, run) {
    await tx.query(
      `INSERT INTO incentive_parameters (chain_id, name, key, value, updated_block, tx_hash)
       SELECT $1::int, v.name, v.key, v.value, v.block, v.tx_hash
       FROM (SELECT unnest($2::text[]) AS name, unnest($3::int[]) AS key, unnest($4::numeric[]) AS value, unnest($5::bigint[]) AS block, unnest($6::text[]) AS tx_hash) AS v
       ON CONFLICT ON CONSTRAINT incentive_parameters_pk DO UPDATE
         SET value = EXCLUDED.value, updated_block = EXCLUDED.updated_block, tx_hash = EXCLUDED.tx_hash`,
      [
        chainId,
        col(run, (e) => str(e.args.name)),
        col(run, (e) => num(e.args.key)),
        col(run, (e) => str(e.args.value)),
        col(run, (e) => e.blockNumber),
        col(run, (e) => e.txHash),
      ],
    );
    // the history (per event; the proposal that made a change is filled in by attributeProposals)
    await tx.query(
      `INSERT INTO parameter_changes (chain_id, name, key, value, block_number, block_time, tx_hash, log_index)
       SELECT $1::int, unnest($2::text[]), unnest($3::int[]), unnest($4::numeric[]), unnest($5::bigint[]), unnest($6::bigint[]), unnest($7::text[]), unnest($8::int[])
       ON CONFLICT ON CONSTRAINT parameter_changes_pk DO NOTHING`,
      [
        chainId,
        col(run, (e) => str(e.args.name)),
        col(run, (e) => num(e.args.key)),
        col(run, (e) => str(e.args.value)),
        col(run, (e) => e.blockNumber),
        col(run, (e) => e.blockTime),
        col(run, (e) => e.txHash),
        col(run, (e) => e.logIndex),
      ],
    );
  },

  // Low-volume kinds: one statement per event (a run still touches each entity at most once).

  async DelegateVotesChanged(tx, chainId, run) {
    for (const e of run)
      await tx.query(
        `INSERT INTO dao_votes (chain_id, token, account, votes, updated_block) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ON CONSTRAINT dao_votes_pk DO UPDATE SET votes = EXCLUDED.votes, updated_block = EXCLUDED.updated_block`,
        [chainId, e.contract, str(e.args.delegate), str(e.args.newVotes), e.blockNumber],
      );
  },

  async RoleGranted(tx, chainId, run) {
    for (const e of run)
      await tx.query(
        `INSERT INTO contract_roles (chain_id, contract, role, account, granted_by, updated_block)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT contract_roles_pk DO UPDATE
           SET granted_by = EXCLUDED.granted_by, updated_block = EXCLUDED.updated_block`,
        [chainId, e.contract, str(e.args.role), str(e.args.account), str(e.args.sender), e.blockNumber],
      );
  },

  async RoleRevoked(tx, chainId, run) {
    for (const e of run)
      await tx.query(`DELETE FROM contract_roles WHERE chain_id = $1 AND contract = $2 AND role = $3 AND account = $4`, [
        chainId,
        e.contract,
        str(e.args.role),
        str(e.args.account),
      ]);
  },

  ...Object.fromEntries(
    GOVERNANCE_EVENTS.map((name): [string, Runner] => [
      name,
      async (tx, chainId, run) => {
        for (const e of run) await projectGovernance(tx, chainId, e);
      },
    ]),
  ),
};

/** One governor event into governance_proposals / governance_votes. */
async function projectGovernance(tx: EntityManager, chainId: number, e: ChainEvent): Promise<void> {
  const a = e.args;
  const where = `chain_id = $1 AND governor = $2 AND proposal_id = $3`;
  const key = [chainId, e.contract, str(a.proposalId)];
  switch (e.name) {
    case 'ProposalCreated': {
      const targets = a.targets as string[];
      const values = a.values as string[];
      const calldatas = a.calldatas as string[];
      const signatures = a.signatures as string[];
      const actions = targets.map((target, i) => ({ target, value: values[i], calldata: calldatas[i], signature: signatures[i] }));
      await tx.query(
        `INSERT INTO governance_proposals (chain_id, governor, proposal_id, proposer, actions, description, vote_start, vote_end,
                                           created_block, created_tx, created_at, updated_block)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9)
         ON CONFLICT ON CONSTRAINT governance_proposals_pk DO NOTHING`,
        [...key, str(a.proposer), JSON.stringify(actions), str(a.description), num(a.voteStart), num(a.voteEnd), e.blockNumber, e.txHash, e.blockTime],
      );
      return;
    }
    case 'VoteCast':
    case 'VoteCastWithParams': {
      const column = ['against_votes', 'for_votes', 'abstain_votes'][num(a.support)];
      const inserted: unknown[] = await tx.query(
        `INSERT INTO governance_votes (chain_id, governor, proposal_id, voter, support, weight, reason, tx_hash, block_number, block_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT ON CONSTRAINT governance_votes_pk DO NOTHING
         RETURNING weight`,
        [...key, str(a.voter), num(a.support), str(a.weight), str(a.reason ?? ''), e.txHash, e.blockNumber, e.blockTime],
      );
      if (inserted.length > 0 && column)
        await tx.query(`UPDATE governance_proposals SET ${column} = ${column} + $4, updated_block = $5 WHERE ${where}`, [...key, str(a.weight), e.blockNumber]);
      return;
    }
    case 'ProposalExtended':
      await tx.query(`UPDATE governance_proposals SET vote_end = $4, updated_block = $5 WHERE ${where}`, [...key, num(a.extendedDeadline), e.blockNumber]);
      return;
    case 'ProposalQueued':
      await tx.query(`UPDATE governance_proposals SET eta = $4, queued_at = $5, updated_block = $6 WHERE ${where}`, [...key, num(a.etaSeconds), e.blockTime, e.blockNumber]);
      return;
    case 'ProposalExecuted':
      await tx.query(`UPDATE governance_proposals SET executed_at = $4, executed_tx = $5, updated_block = $6 WHERE ${where}`, [
        ...key,
        e.blockTime,
        e.txHash,
        e.blockNumber,
      ]);
      return;
    case 'ProposalCanceled':
      await tx.query(`UPDATE governance_proposals SET canceled_at = $4, updated_block = $5 WHERE ${where}`, [...key, e.blockTime, e.blockNumber]);
      return;
  }
}

/**
 * The parameter changes an execution made are in the same transaction (logged before its ProposalExecuted):
 * they name the proposal. Runs after every run of the batch, when both rows exist whatever their waves were.
 */
async function attributeProposals(tx: EntityManager, chainId: number, events: ChainEvent[]): Promise<void> {
  const executed = events.filter((e) => e.name === 'ProposalExecuted');
  if (executed.length === 0) return;
  await tx.query(
    `UPDATE parameter_changes p SET proposal_id = v.proposal_id
     FROM (SELECT unnest($2::text[]) AS tx_hash, unnest($3::numeric[]) AS proposal_id) AS v
     WHERE p.chain_id = $1 AND p.tx_hash = v.tx_hash`,
    [chainId, executed.map((e) => e.txHash), executed.map((e) => str(e.args.proposalId))],
  );
}

/**
 * Groups events (in chain order) for set-based application. Projections of different entities are independent
 * (no event reads another entity's rows; ledger rows are only appended), so only the order of each entity's own
 * events matters: wave k holds every entity's k-th event of the batch (events without an entity go to wave 0),
 * and inside a wave the events of one kind form one run, each entity at most once.
 */
export function runsOf(events: ChainEvent[]): ChainEvent[][] {
  const seen = new Map<string, number>();
  const waves: Map<string, ChainEvent[]>[] = [];
  for (const e of events) {
    const key = entityOf(e);
    let wave = 0;
    if (key !== null) {
      wave = seen.get(key) ?? 0;
      seen.set(key, wave + 1);
    }
    const byName = (waves[wave] ??= new Map());
    const run = byName.get(e.name);
    if (run) run.push(e);
    else byName.set(e.name, [e]);
  }
  return waves.flatMap((w) => [...w.values()]);
}

/** Applies events (in chain order) to the projections. Events of kinds with no projection are ignored. */
export async function applyEvents(tx: EntityManager, chainId: number, events: ChainEvent[], opts: { ledger?: boolean } = {}): Promise<void> {
  const ledger: LedgerRow[] = [];
  for (const run of runsOf(events)) {
    const runner = RUNNERS[run[0].name];
    if (runner) await runner(tx, chainId, run, ledger); // others (TreasuryUpdated, ArbiterUpdated, …) live in chain_events only
  }
  await attributeProposals(tx, chainId, events);
  if (ledger.length === 0 || opts.ledger === false) return;
  await copyRows(
    tx,
    'ledger_entries',
    ['chain_id', 'account', 'kind', 'amount', 'study_id', 'counterparty', 'tx_hash', 'log_index', 'block_number', 'block_time'],
    ledger.map((l) => [chainId, l.account, l.kind, l.amount.toString(), l.studyId, l.counterparty, l.e.txHash, l.e.logIndex, l.e.blockNumber, l.e.blockTime]),
  );
}
