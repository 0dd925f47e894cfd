import { Field, GraphQLISODateTime, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Study } from '../studies/index.js';

export enum WorklistEventKind {
  NEW_STUDY = 'NEW_STUDY',
  BOUNTY_CHANGED = 'BOUNTY_CHANGED',
  STUDY_TAKEN = 'STUDY_TAKEN',
  PARAMETERS_CHANGED = 'PARAMETERS_CHANGED',
}
registerEnumType(WorklistEventKind, {
  name: 'WorklistEventKind',
  description:
    'NEW_STUDY: claimable by you now (posted, or back after a lapsed lease); BOUNTY_CHANGED: its current bounty grew; ' +
    'STUDY_TAKEN: someone else claimed it; PARAMETERS_CHANGED: the DAO changed the incentive parameters, so every ' +
    'bounty may have changed (no study: fetch the worklist again)',
});

@ObjectType({ description: 'A change to your worklist, as soon as the indexer has seen it.' })
export class WorklistEvent {
  @Field(() => WorklistEventKind) kind: WorklistEventKind;
  @Field(() => Study, { nullable: true, description: 'the study (null for PARAMETERS_CHANGED)' }) study: Study | null;
  @Field(() => GraphQLISODateTime, { description: 'chain time the bounty is computed at' }) asOf: Date;
}
