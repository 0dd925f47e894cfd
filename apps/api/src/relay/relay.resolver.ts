import { Args, Query, Resolver } from '@nestjs/graphql';
import { Authenticated, CurrentUser, type AuthUser } from '../common/access.js';
import { GaslessRequestState, GaslessRequestStatus } from './relay.models.js';
import { RelayService } from './relay.service.js';

@Resolver()
export class RelayResolver {
  constructor(private readonly relay: RelayService) {}

  @Authenticated()
  @Query(() => GaslessRequestStatus, {
    description:
      'The status of a gasless request you signed, by its hash (after a timeout, a reset connection or a CHAIN_UNAVAILABLE answer, whose extensions carry requestHash). NOT_FOUND for a hash the relayer never accepted or that is not yours.',
  })
  async gaslessRequest(@CurrentUser() user: AuthUser, @Args('hash') hash: string): Promise<GaslessRequestStatus> {
    const row = await this.relay.status(user.address, hash);
    return {
      requestHash: row.requestHash!,
      status: row.status as GaslessRequestState,
      function: row.function,
      nonce: String(row.signerNonce),
      txHash: row.status === 'QUEUED' || row.status === 'FAILED' ? null : row.txHash,
      blockNumber: row.blockNumber,
      errorCode: row.errorCode,
      errorMessage: row.errorMessage,
      reason: row.errorReason,
    };
  }
}
