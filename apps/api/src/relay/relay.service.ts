import { Inject, Injectable } from '@nestjs/common';
import { Contract, FunctionFragment, Interface, TypedDataEncoder, getAddress, solidityPacked, verifyTypedData, zeroPadValue } from 'ethers';
import { APP_CONFIG, type AppConfig } from '#config';
import { loadArtifact, FORWARD_REQUEST_TYPES, ForwardRequest, forwarderDomain } from '#chain';
import { RelayOutboxRepository, type RelayRow } from '#db';
import type { Role } from '../common/access.js';
import { ChainService } from '../chain/index.js';
import { OpenReadError } from '../common/errors.js';
import { typedDataShapes } from '../common/graphql/typed-data.js';
import { ForwardRequestInput, GaslessRequest } from './relay.models.js';
import { TransactionOutbox, outcome } from './outbox.service.js';

/**
 * Market functions that may be relayed gaslessly, with who may have them relayed: a radiologist claims, reports and
 * withdraws what they were paid; an RO depositor withdraws its unescrowed deposit, cancels an open study and disputes a
 * report, and deposits with an ERC-2612 permit (a plain deposit needs an approve transaction first, which the forwarder
 * cannot carry for the token).
 */
const GASLESS: Record<string, readonly Role[]> = {
  claim: ['RADIOLOGIST'],
  submitReport: ['RADIOLOGIST'],
  withdraw: ['RADIOLOGIST', 'RO_DEPOSITOR'],
  cancelStudy: ['RO_DEPOSITOR'],
  dispute: ['RO_DEPOSITOR'],
  // a deposit whose allowance comes from an ERC-2612 permit the depositor signed (no approve transaction)
  depositWithPermit: ['RO_DEPOSITOR'],
};
/**
 * Longest calldata a gasless request may carry. The gasless functions' canonical encodings are a few hundred bytes
 * (depositWithPermit, the largest, is 4 + 7 × 32); anything longer is padding, which only costs the relayer.
 */
const MAX_DATA_BYTES = 1024;
/** Clock skew between the API and the chain tolerated on a request's deadline, seconds. */
const DEADLINE_SKEW_SECONDS = 60;
/** Errors that say nothing about the request itself: no look for an execution of it on chain. */
const NOT_A_REFUSAL = new Set(['CHAIN_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'BUS_UNAVAILABLE', 'RATE_LIMITED', 'INTERNAL']);
/** How long a claim waits for another claim of the same study in flight before it is queued anyway. */
const CLAIM_WAIT_MS = 30_000;

/** Resolves when `p` does or after `ms`, whichever is first (no timer left behind). */
async function settledWithin(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Gasless claims and reports: builds the EIP-712 forward request for the radiologist to sign, checks the signed
 * request and queues it in the transaction outbox; the worker's sender sends it. The caller's checks (eligibility, claimant)
 * run before prepare(), as for the signed-transaction path.
 */
@Injectable()
export class RelayService {
  private readonly market: Interface;
  /** claims in flight from this process, by calldata (= by study): see submit() */
  private readonly claimsInFlight = new Map<string, Promise<void>>();
  /** the gasless functions by selector */
  private readonly gasless: Map<string, FunctionFragment>;
  private readonly forwarder?: Contract;
  private readonly forwarderAbi: Interface;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly chain: ChainService,
    private readonly outbox: RelayOutboxRepository,
    private readonly transactions: TransactionOutbox,
  ) {
    this.market = chain.market;
    this.forwarderAbi = new Interface(loadArtifact('OpenReadForwarder').abi);
    this.gasless = new Map(
      Object.keys(GASLESS).map((name) => {
        const fragment = this.market.getFunction(name)!;
        return [fragment.selector, fragment];
      }),
    );
    if (config.contracts.forwarder)
      this.forwarder = new Contract(config.contracts.forwarder, loadArtifact('OpenReadForwarder').abi, chain.provider);
  }

  private enabled(): { forwarder: Contract; address: string } {
    if (!this.forwarder || !this.config.relay.privateKey)
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'gasless requests are not enabled on this server; sign the transaction yourself');
    return { forwarder: this.forwarder, address: this.config.contracts.forwarder! };
  }

  /** The inner call as the market sees it: from the forwarder, with the signer appended (ERC-2771). */
  private simulateInner(signer: string, data: string): Promise<bigint> {
    const { address } = this.enabled();
    return this.chain.simulate({
      from: address,
      to: this.config.contracts.market,
      data: solidityPacked(['bytes', 'address'], [data, signer]),
    });
  }

  /**
   * From the later of the latest block and the wall clock: a chain idle for a while (a dev node mining on demand)
   * stamps its next block with the current time, which would leave an old block's deadline expired.
   */
  private async nowSeconds(): Promise<number> {
    return Math.max(await this.chain.now(0), Math.floor(Date.now() / 1000));
  }

  /** The EIP-712 digest of a forward request: what its signer signed, and its idempotency key in the outbox. */
  private requestHash(forwarder: string, req: ForwardRequest): string {
    return TypedDataEncoder.hash(forwarderDomain(this.config.chainId, getAddress(forwarder)), FORWARD_REQUEST_TYPES, req).toLowerCase();
  }

  /** A gasless request's record by its hash, for its signer only (anyone else: NOT_FOUND, as for no record). */
  async status(caller: string, hash: string): Promise<RelayRow> {
    if (!/^0x[0-9a-fA-F]{64}$/.test(hash)) throw new OpenReadError('BAD_INPUT', 'hash must be a 0x-prefixed 32-byte hex string');
    const row = await this.outbox.findByRequestHash(this.config.chainId, hash.toLowerCase());
    if (!row || row.signer !== caller) throw new OpenReadError('NOT_FOUND', 'no gasless request of yours has this hash');
    return row;
  }

  async prepare(signer: string, fn: string, args: unknown[]): Promise<GaslessRequest> {
    const { forwarder, address } = this.enabled();
    const data = this.market.encodeFunctionData(fn, args);
    const gas = await this.simulateInner(signer, data);
    // the next nonce: after any of the signer's requests still queued or in flight
    const onChain = BigInt(await forwarder.nonces(signer));
    const queued = await this.outbox.highestLiveNonce(this.config.chainId, address, signer);
    const nonce = queued !== null && queued + 1n > onChain ? queued + 1n : onChain;
    const request: ForwardRequest = {
      from: getAddress(signer),
      to: getAddress(this.config.contracts.market),
      value: 0n,
      gas: (gas * 13n) / 10n + 10_000n,
      nonce,
      deadline: (await this.nowSeconds()) + this.config.relay.requestTtlSeconds,
      data,
    };
    const domain = forwarderDomain(this.config.chainId, getAddress(address));
    const message = { ...request, value: '0', gas: request.gas.toString(), nonce: request.nonce.toString() };
    return {
      request: message,
      domain: domain as GaslessRequest['domain'],
      ...typedDataShapes(domain, FORWARD_REQUEST_TYPES, 'ForwardRequest', message),
    };
  }

  /**
   * Checks a signed request (signer = caller, to the market, a gasless function, unexpired, would succeed now,
   * valid signature), reserves its cost against the signer's 24 h spend limit and queues it. Waits until the
   * relayer has it mined (or refused) and answers like relayTransaction.
   */
  async submit(
    caller: string,
    input: ForwardRequestInput,
    signature: string,
    roles: ReadonlySet<Role>,
  ): Promise<{ txHash: string; blockNumber: number; function: string }> {
    const { address } = this.enabled();
    const req = parseRequest(input);
    if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new OpenReadError('BAD_INPUT', 'signature must be a 65-byte 0x-prefixed hex string');
    if (req.from.toLowerCase() !== caller) throw new OpenReadError('FORBIDDEN', 'the request must be from the signed-in account');
    // the same signed request again (a client retry after a timeout or a reset connection): its record, whatever
    // became of it, and nothing sent again (its signature was verified when it was queued, and the caller is its
    // signer: the hash covers `from`)
    const requestHash = this.requestHash(address, req);
    const existing = await this.outbox.findByRequestHash(this.config.chainId, requestHash);
    if (existing) return outcome(await this.transactions.settled(existing.id));
    try {
      return await this.checkAndQueue(caller, address, req, signature, requestHash, roles);
    } catch (e) {
      // refused now (expired, would fail, nonce taken): if the forwarder executed this very request, its row was lost
      // (a database restored from a backup taken before it was sent) and that execution is its outcome
      if (!(e instanceof OpenReadError) || NOT_A_REFUSAL.has(e.code)) throw e;
      const executed = await this.recordIfExecuted(address, req, signature, requestHash);
      if (executed) return outcome(executed);
      throw e;
    }
  }

  private async checkAndQueue(
    caller: string,
    address: string,
    req: ForwardRequest,
    signature: string,
    requestHash: string,
    roles: ReadonlySet<Role>,
  ): Promise<{ txHash: string; blockNumber: number; function: string }> {
    if (req.to.toLowerCase() !== this.config.contracts.market)
      throw new OpenReadError('BAD_INPUT', 'the request must call the study market');
    if (req.value !== 0n) throw new OpenReadError('BAD_INPUT', 'gasless requests carry no value');
    const fn = this.gaslessCall(req.data);
    if (!GASLESS[fn.name].some((r) => roles.has(r)))
      throw new OpenReadError('FORBIDDEN', `a gasless ${fn.name} needs the ${GASLESS[fn.name].join(' or ')} role`);
    if (req.deadline <= (await this.chain.now())) throw new OpenReadError('BAD_INPUT', 'the request has expired; prepare a new one');
    // a far-future deadline would let requests be queued now and sent whenever fees or state suit someone else
    if (req.deadline > (await this.nowSeconds()) + this.config.relay.requestTtlSeconds + DEADLINE_SKEW_SECONDS)
      throw new OpenReadError(
        'BAD_INPUT',
        `the deadline is more than ${this.config.relay.requestTtlSeconds} s away; prepare a new request`,
      );
    if (req.gas > 2_000_000n) throw new OpenReadError('BAD_INPUT', 'gas is above what these calls need');
    const queue = () => this.verifyAndQueue(caller, address, req, fn.name, signature, requestHash);
    if (fn.name !== 'claim') {
      await this.simulateInner(caller, req.data);
      return queue();
    }
    // Claims of one study from this API process go one at a time: a claim arriving while another claim of the same
    // study is in flight waits for its outcome and is simulated again. Of 100 concurrent claimers the 99 losers
    // are then refused (ALREADY_CLAIMED) after two simulations, with no ECDSA recovery (~3 ms of CPU each), fee
    // lookup, outbox row or relayer work. Several API instances each keep their own line; the relayer's
    // re-simulation and the contract decide between them.
    const until = Date.now() + CLAIM_WAIT_MS;
    for (;;) {
      await this.simulateInner(caller, req.data);
      const ahead = this.claimsInFlight.get(req.data);
      if (!ahead) break;
      if (Date.now() >= until) return queue(); // waited long enough: queue it
      await settledWithin(ahead, until - Date.now());
    }
    const mine = queue();
    const done = mine.then(
      () => undefined,
      () => undefined,
    );
    this.claimsInFlight.set(req.data, done);
    void done.then(() => {
      if (this.claimsInFlight.get(req.data) === done) this.claimsInFlight.delete(req.data);
    });
    return mine;
  }

  /**
   * The record of a signed request the forwarder has executed but the outbox does not know: found by its signer's
   * ExecutedForwardRequest with its nonce, in the blocks it could have been executed in (from its preparation, at
   * most the request TTL before its deadline, to its deadline), and only when that transaction carried this very
   * request and signature. Recorded (recordExecuted) and answered; null when the nonce is unused or went to another
   * request. A rare path (a refusal), so its extra chain reads cost nothing on the usual one.
   */
  private async recordIfExecuted(address: string, req: ForwardRequest, signature: string, requestHash: string): Promise<RelayRow | null> {
    const { forwarder } = this.enabled();
    if (BigInt(await forwarder.nonces(req.from)) <= req.nonce) return null;
    // signed by its signer, before any search: an unsigned request must not buy dozens of chain reads
    try {
      if (verifyTypedData(forwarderDomain(this.config.chainId, getAddress(address)), FORWARD_REQUEST_TYPES, req, signature) !== req.from)
        return null;
    } catch {
      return null;
    }
    const provider = this.chain.provider;
    const latest = await provider.getBlockNumber();
    const from = await this.firstBlockAt(req.deadline - this.config.relay.requestTtlSeconds - DEADLINE_SKEW_SECONDS, latest);
    const to = (await this.firstBlockAt(req.deadline + 1, latest)) - 1;
    if (to < from) return null;
    const logs = await provider.getLogs({
      address,
      topics: [this.forwarderAbi.getEvent('ExecutedForwardRequest')!.topicHash, zeroPadValue(req.from, 32)],
      fromBlock: from,
      toBlock: to,
    });
    for (const log of logs) {
      const ev = this.forwarderAbi.parseLog(log)!;
      if ((ev.args.nonce as bigint) !== req.nonce) continue;
      const tx = await provider.getTransaction(log.transactionHash);
      const call = tx && tx.to?.toLowerCase() === address ? this.forwarderAbi.parseTransaction({ data: tx.data }) : null;
      // the same request and signature (another request of this signer with the same nonce is not this one's outcome)
      const sent = call?.name === 'execute' ? call.args[0] : null;
      if (
        !sent ||
        String(sent.signature).toLowerCase() !== signature.toLowerCase() ||
        this.requestHash(address, { ...pick(sent), nonce: req.nonce }) !== requestHash
      )
        return null;
      const receipt = await provider.getTransactionReceipt(log.transactionHash);
      const relayer = this.transactions.keyAddress(this.config.relay.privateKey)!;
      const paidBy =
        receipt && receipt.from.toLowerCase() === relayer ? { relayer, costWei: receipt.gasUsed * receipt.gasPrice } : undefined;
      return this.outbox.recordExecuted(
        {
          chainId: this.config.chainId,
          forwarder: address,
          signer: req.from.toLowerCase(),
          signerNonce: req.nonce,
          target: req.to.toLowerCase(),
          function: this.gaslessCall(req.data).name,
          data: req.data,
          gas: req.gas,
          deadline: req.deadline,
          signature: signature.toLowerCase(),
          reservedWei: 0n,
          requestHash,
          sender: relayer,
        },
        ev.args.success
          ? { status: 'MINED', txHash: log.transactionHash, blockNumber: log.blockNumber, paidBy }
          : {
              status: 'FAILED',
              txHash: log.transactionHash,
              blockNumber: log.blockNumber,
              errorMessage: 'the request was executed, and its call failed',
              paidBy,
            },
      );
    }
    return null;
  }

  /** The first block stamped at or after `t` (latest + 1 when none): a binary search from the deployment block. */
  private async firstBlockAt(t: number, latest: number): Promise<number> {
    let lo = this.config.contracts.deployBlock ?? 0;
    let hi = latest + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await this.chain.provider.getBlock(mid))!.timestamp >= t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Checks the signature, reserves the worst-case cost of the transaction the relayer will send (the forwarder's
   * execute with this request: its gas, calldata included, at today's fees, plus an OP-stack chain's L1 data fee)
   * against the signer's limit, queues and waits for the outcome. The sender checks the limit again with the cost
   * at send time.
   */
  private async verifyAndQueue(caller: string, forwarder: string, req: ForwardRequest, fn: string, signature: string, requestHash: string) {
    let recovered: string;
    try {
      recovered = verifyTypedData(forwarderDomain(this.config.chainId, getAddress(forwarder)), FORWARD_REQUEST_TYPES, req, signature);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'signature is not a valid EIP-712 signature');
    }
    if (recovered.toLowerCase() !== caller) throw new OpenReadError('FORBIDDEN', 'the request is not signed by the signed-in account');
    const reservedWei = await this.transactions.worstCaseCost(
      {
        to: forwarder,
        data: this.forwarderAbi.encodeFunctionData('execute', [{ ...req, signature }]),
      },
      req.gas,
    );

    const queued = await this.outbox.enqueue(
      {
        chainId: this.config.chainId,
        forwarder,
        signer: caller,
        signerNonce: req.nonce,
        target: req.to.toLowerCase(),
        function: fn,
        data: req.data,
        gas: req.gas,
        deadline: req.deadline,
        signature: signature.toLowerCase(),
        reservedWei,
        requestHash,
        sender: this.transactions.keyAddress(this.config.relay.privateKey)!,
      },
      this.config.relay.spendLimitWei,
    );
    if (queued.kind === 'duplicate') return outcome(await this.transactions.settled(queued.row.id));
    if (queued.kind === 'conflict')
      throw new OpenReadError('CONFLICT', 'another request with this nonce is queued or done; prepare a new one');
    if (queued.kind === 'over-limit')
      throw new OpenReadError('RATE_LIMITED', 'your gasless spend limit for the last 24 hours is used up; sign the transaction yourself', {
        reason: 'SPEND_LIMIT',
      });
    return outcome(await this.transactions.settled(queued.row.id));
  }

  /**
   * The market call a request carries, if it is one of the gasless functions. By selector from a table built once:
   * `Interface.parseTransaction` hashes the signature of every function of the ABI on each call.
   */
  private gaslessCall(data: string): { name: string } {
    const fragment = this.gasless.get(data.slice(0, 10));
    let canonical = false;
    try {
      // only the canonical encoding: decoders (ethers, Solidity, ERC-2771) ignore trailing bytes and accept dirty
      // high bits, so padded calldata would pass a decode check and only make the relayer pay for the padding
      if (fragment)
        canonical = this.market.encodeFunctionData(fragment, this.market.decodeFunctionData(fragment, data)).toLowerCase() === data;
    } catch {
      // the selector matched but the arguments do not decode
    }
    if (fragment && canonical) return { name: fragment.name };
    if (fragment) throw new OpenReadError('BAD_INPUT', `data is not the canonical encoding of ${fragment.name}`);
    throw new OpenReadError('BAD_INPUT', `only ${Object.keys(GASLESS).join(', ')} can be relayed gaslessly`);
  }
}

/** The fields of a ForwardRequest as the forwarder's execute() received them (the nonce is the forwarder's own counter). */
function pick(sent: {
  from: string;
  to: string;
  value: bigint;
  gas: bigint;
  deadline: bigint;
  data: string;
}): Omit<ForwardRequest, 'nonce'> {
  return {
    from: getAddress(sent.from),
    to: getAddress(sent.to),
    value: sent.value,
    gas: sent.gas,
    deadline: Number(sent.deadline),
    data: String(sent.data).toLowerCase(),
  };
}

function parseRequest(i: ForwardRequestInput): ForwardRequest {
  const uint = (v: string, f: string) => {
    if (!/^\d{1,78}$/.test(v)) throw new OpenReadError('BAD_INPUT', `${f} must be an unsigned integer as a decimal string`);
    return BigInt(v);
  };
  for (const [f, v] of [
    ['from', i.from],
    ['to', i.to],
  ] as const)
    if (!/^0x[0-9a-fA-F]{40}$/.test(v)) throw new OpenReadError('BAD_INPUT', `${f} must be an address`);
  if (i.data.length > 2 + 2 * MAX_DATA_BYTES) throw new OpenReadError('BAD_INPUT', `data must be at most ${MAX_DATA_BYTES} bytes`);
  if (!/^0x([0-9a-fA-F]{2})*$/.test(i.data)) throw new OpenReadError('BAD_INPUT', 'data must be 0x-prefixed hex');
  return {
    from: getAddress(i.from),
    to: getAddress(i.to),
    value: uint(i.value, 'value'),
    gas: uint(i.gas, 'gas'),
    nonce: uint(i.nonce, 'nonce'),
    deadline: i.deadline,
    data: i.data.toLowerCase(),
  };
}
