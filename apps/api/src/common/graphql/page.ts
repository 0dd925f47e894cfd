import { Field, ObjectType } from '@nestjs/graphql';
import { OpenReadError } from '../errors.js';

@ObjectType()
export class PageInfo {
  @Field(() => String, { nullable: true }) endCursor: string | null;
  @Field() hasNextPage: boolean;
}

/** An opaque keyset cursor: the position's text, base64url. */
export const encodeCursor = (position: string): string => Buffer.from(position).toString('base64url');

/**
 * The position `raw` encodes, as `read` accepts it; anything else (not base64url, or `read` throws or answers
 * undefined) is BAD_INPUT with `refusal` as the sentence.
 */
export function decodeCursor<T>(raw: string, read: (position: string) => T | undefined, refusal: string): T {
  let position: T | undefined;
  try {
    position = read(Buffer.from(raw, 'base64url').toString());
  } catch {
    /* refused below */
  }
  if (position === undefined) throw new OpenReadError('BAD_INPUT', refusal);
  return position;
}
