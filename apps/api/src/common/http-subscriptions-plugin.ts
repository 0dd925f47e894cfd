import type { ApolloServerPlugin } from '@apollo/server';
import { OpenReadError } from './errors.js';

/**
 * Subscriptions are served over graphql-ws only. Apollo would execute a subscription sent over HTTP like a query,
 * calling the field's `resolve` without an event and without the guard (which Nest puts on `subscribe`), so the
 * client got INTERNAL ("Cannot return null …") instead of a refusal: refuse it before execution, a 400 with BAD_INPUT.
 */
export const httpSubscriptionsPlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation, response }) {
        if (operation?.operation !== 'subscription') return;
        // Apollo answers an error thrown here with a 500 unless a status is set
        response.http.status = 400;
        throw new OpenReadError('BAD_INPUT', 'subscriptions are served over graphql-ws on /graphql, not over HTTP');
      },
    };
  },
};
