/** A chain timestamp (unix seconds) as the GraphQL DateTime it is answered as; null stays null. */
export function chainTime(seconds: number): Date;
export function chainTime(seconds: number | null): Date | null;
export function chainTime(seconds: number | null): Date | null {
  return seconds === null ? null : new Date(seconds * 1000);
}
