import type { ApolloServerPlugin } from '@apollo/server';
import { type ErrorCode, RETRY_AFTER_SECONDS, UNAVAILABLE_CODES } from './errors.js';

/**
 * Over HTTP, an answer that failed only because a dependency is unavailable is a 503 with `Retry-After`, so load
 * balancers, proxies and HTTP clients see what happened without reading the body. A partial answer (some root
 * field has data) stays a 200 with the typed errors: a 503 would make many clients drop the data they got.
 */
export const unavailablePlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const { errors, data } = response.body.singleResult;
        if (!errors?.length) return;
        const unavailable = errors.filter((e) => UNAVAILABLE_CODES.has(e.extensions?.code as ErrorCode));
        if (!unavailable.length) return;
        response.http.headers.set('retry-after', String(RETRY_AFTER_SECONDS));
        const noData = !data || Object.values(data).every((v) => v === null);
        if (noData && unavailable.length === errors.length) response.http.status = 503;
      },
    };
  },
};
