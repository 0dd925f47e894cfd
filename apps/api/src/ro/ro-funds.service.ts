import { Inject, Injectable } from '@nestjs/common';
import { Signature, getAddress, verifyTypedData } from 'ethers';
import { PERMIT_TYPES } from '#chain';
import { APP_CONFIG, type AppConfig } from '#config';
import { RoRepository, RoRow } from '#db';
import { OpenReadError } from '../common/errors.js';
import { type PreparedTransaction, toPrepared, typedDataShapes } from '../common/graphql/index.js';
import { parseAmount, parseSignature, parseStudyId } from '../common/validation.js';
import { ChainService } from '../chain/index.js';
import { type GaslessRequest, RelayService } from '../relay/index.js';
import { parseRoId } from './ro-access.service.js';
import type { DepositorBalance, DepositPermit, RadiologistBalance } from './ro-funds.models.js';

const MAX_UINT128 = (1n << 128n) - 1n;
/**
 * deposit's gas limit. It cannot be estimated before its approve is mined (the simulation would revert on the
 * allowance); a deposit (SafeERC20 transferFrom + balance bookkeeping) uses about 60k gas on the market's token.
 */
const DEPOSIT_GAS = 150_000n;
/** How long a deposit permit stays valid. */
const PERMIT_TTL_SECONDS = 15 * 60;

/**
 * RO funds: deposit (approve + deposit, signed by the depositor wallet and sent with relayTransaction, or a gasless
 * permit deposit), withdraw, cancel and dispute (signed transactions, or gasless forward requests for relayGasless).
 * Each is for a depositor wallet of the RO concerned; the chain decides the rest and its refusal is given up front by
 * simulating the call.
 */
@Injectable()
export class RoFundsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ros: RoRepository,
    private readonly chain: ChainService,
    private readonly relay: RelayService,
  ) {}

  /** The RO `roId` if the caller's wallet is one of its depositors (an admin is no depositor: the wallet signs). */
  private async depositorOf(caller: string, roId: string): Promise<RoRow> {
    const id = parseRoId(roId);
    const mine = await this.ros.membershipsOf(this.config.chainId, caller);
    if (!mine.some((m) => m.roId === id && m.role === 'DEPOSITOR'))
      throw new OpenReadError('FORBIDDEN', 'only a depositor wallet of this RO can move its funds (RO ids are not for probing)');
    const ro = await this.ros.find(this.config.chainId, id);
    if (!ro) throw new OpenReadError('NOT_FOUND', 'no such RO');
    return ro;
  }

  private positive(amount: string): bigint {
    const value = parseAmount(amount, 'amount');
    if (value === 0n || value > MAX_UINT128)
      throw new OpenReadError('BAD_INPUT', 'amount must be positive (token base units) and below 2^128', { field: 'amount' });
    return value;
  }

  /**
   * The study as the chain has it (not the index, which may lag a posting just relayed), for a depositor of the RO
   * that posted it: NOT_FOUND if the market does not know it; FORBIDDEN for another RO's study, or for another wallet
   * of the same RO (the market lets only the posting wallet cancel or dispute).
   */
  private async ownStudy(caller: string, id: string): Promise<string> {
    const studyId = parseStudyId(id);
    const study = await this.chain.studyOnChain(studyId);
    if (study.status === 0) throw new OpenReadError('NOT_FOUND', 'no such study');
    const mine = await this.ros.roOfDepositor(this.config.chainId, caller);
    const owner = await this.ros.roOfDepositor(this.config.chainId, study.ro);
    if (!mine || !owner || mine.id !== owner.id) throw new OpenReadError('FORBIDDEN', "only the posting RO's depositor can do this");
    if (study.ro !== caller) throw new OpenReadError('FORBIDDEN', `only the wallet that posted the study (${study.ro}) can do this`);
    return studyId;
  }

  async prepareDeposit(caller: string, roId: string, amount: string): Promise<PreparedTransaction[]> {
    const value = await this.depositAmount(caller, roId, amount);
    const approve = await this.chain.prepare(caller, 'approve', [this.config.contracts.market, value], 'token');
    const deposit = {
      from: caller,
      to: this.config.contracts.market,
      data: this.chain.market.encodeFunctionData('deposit', [value]),
      chainId: this.config.chainId,
      gasLimit: DEPOSIT_GAS,
    };
    return [toPrepared(approve), toPrepared(deposit)];
  }

  /** The checks of a deposit: the caller's RO, a positive amount the wallet holds. */
  private async depositAmount(caller: string, roId: string, amount: string): Promise<bigint> {
    await this.depositorOf(caller, roId);
    const value = this.positive(amount);
    const held = await this.chain.tokenView('balanceOf', [caller]);
    if (held < value)
      throw new OpenReadError('CONFLICT', `the wallet holds ${held} token base units, less than the deposit`, {
        reason: 'InsufficientTokens',
      });
    return value;
  }

  private async permitMessage(owner: string, value: bigint, deadline: number) {
    const domain = await this.chain.tokenDomain();
    const nonce = await this.chain.tokenView('nonces', [owner]);
    return { domain, message: { owner: getAddress(owner), spender: getAddress(this.config.contracts.market), value, nonce, deadline } };
  }

  async prepareDepositPermit(caller: string, roId: string, amount: string): Promise<DepositPermit> {
    const value = await this.depositAmount(caller, roId, amount);
    const deadline = Math.max(await this.chain.now(0), Math.floor(Date.now() / 1000)) + PERMIT_TTL_SECONDS;
    const { domain, message } = await this.permitMessage(caller, value, deadline);
    return { ...typedDataShapes(domain, PERMIT_TYPES, 'Permit', message), amount: value.toString(), deadline };
  }

  async prepareGaslessDeposit(
    caller: string,
    roId: string,
    amount: string,
    deadline: number,
    permitSignature: string,
  ): Promise<GaslessRequest> {
    const value = await this.depositAmount(caller, roId, amount);
    const signature = parseSignature(permitSignature, 'permitSignature');
    if (!Number.isInteger(deadline) || deadline <= (await this.chain.now(0)))
      throw new OpenReadError('BAD_INPUT', 'the permit has expired; prepare a new one', { field: 'deadline' });
    const { domain, message } = await this.permitMessage(caller, value, deadline);
    let signer: string;
    try {
      signer = verifyTypedData(domain, PERMIT_TYPES, message, signature);
    } catch {
      throw new OpenReadError('BAD_INPUT', 'permitSignature is not a valid EIP-712 signature', { field: 'permitSignature' });
    }
    if (signer.toLowerCase() !== caller)
      throw new OpenReadError('BAD_INPUT', "permitSignature is not your wallet's signature of this permit (amount, deadline, nonce)", {
        field: 'permitSignature',
      });
    const { v, r, s } = Signature.from(signature);
    return this.relay.prepare(caller, 'depositWithPermit', [value, deadline, v, r, s]);
  }

  async prepareWithdraw(caller: string, roId: string, amount: string): Promise<PreparedTransaction> {
    await this.depositorOf(caller, roId);
    return toPrepared(await this.chain.prepare(caller, 'withdraw', [this.positive(amount)]));
  }

  async prepareGaslessWithdraw(caller: string, roId: string, amount: string): Promise<GaslessRequest> {
    await this.depositorOf(caller, roId);
    return this.relay.prepare(caller, 'withdraw', [this.positive(amount)]);
  }

  /** cancelStudy or dispute of one of the caller's own postings, as a transaction to sign. */
  async prepareStudyCall(caller: string, fn: 'cancelStudy' | 'dispute', studyId: string): Promise<PreparedTransaction> {
    return toPrepared(await this.chain.prepare(caller, fn, [await this.ownStudy(caller, studyId)]));
  }

  /** cancelStudy or dispute of one of the caller's own postings, as a gasless forward request. */
  async prepareGaslessStudyCall(caller: string, fn: 'cancelStudy' | 'dispute', studyId: string): Promise<GaslessRequest> {
    return this.relay.prepare(caller, fn, [await this.ownStudy(caller, studyId)]);
  }

  async balanceOf(account: string): Promise<RadiologistBalance> {
    const asOfBlock = await this.chain.provider.getBlockNumber().catch(() => {
      throw new OpenReadError('CHAIN_UNAVAILABLE', 'the chain node is not reachable; try again shortly');
    });
    return { account, withdrawable: (await this.chain.marketBalance(account)).toString(), asOfBlock };
  }

  async depositorBalances(depositors: string[]): Promise<DepositorBalance[]> {
    return Promise.all(depositors.map(async (account) => ({ account, balance: (await this.chain.marketBalance(account)).toString() })));
  }
}
