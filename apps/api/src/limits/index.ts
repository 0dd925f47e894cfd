// What other API features may use of the limits feature.
export { addressOf, trustFunction, type TrustFn } from './client-address.js';
export { LimitsModule } from './limits.module.js';
export { queryLimits, rootFields, widthRefusal } from './query-limits.js';
export { RateLimitService, UNAUTHENTICATED_OPERATION } from './rate-limit.service.js';
export { graphqlBodyReader, type RequestBodyLimits } from './request-body.js';
export { IntrospectionCache } from './introspection-cache.js';
export { guardServer, RequestLimiter, type RequestLimiterSettings } from './request-limiter.js';
