import { Field, GraphQLISODateTime, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Study } from '../studies/study.models.js';

export enum WorklistEventKind {
  NEW_STUDY = 'NEW_STUDY',
  BOUNTY_CHANGED = 'BOUNTY_CHANGED',
  STUDY_TAKEN = 'STUDY_TAKEN',
}
registerEnumType(WorklistEventKind, {
  name: 'WorklistEventKind',
  description: 'NEW_STUDY: claimable by you now (posted, or back after a lapsed lease); BOUNTY_CHANGED: its current bounty grew; ' +
    'STUDY_TAKEN: someone else claimed it',
});

@ObjectType({ description: 'A change to your worklist, as soon as the indexer has seen it.' })
export class WorklistEvent {
  @Field(() => WorklistEventKind) kind: WorklistEventKind;
  @Field(() => Study) study: Study;
  @Field(() => GraphQLISODateTime, { description: 'chain time the bounty is computed at' }) asOf: Date;
}
