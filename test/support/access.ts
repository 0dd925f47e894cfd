import { INestApplication } from '@nestjs/common';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { ACCESS_METADATA, type Access } from '#api';

const RESOLVER_TYPE = 'graphql:resolver_type';
const RESOLVER_NAME = 'graphql:resolver_name';

/**
 * The access rule (@Public / @Authenticated / @Roles, common/access.ts) every root resolver of the running API
 * declares, by `Query.name` / `Mutation.name` / `Subscription.name`: read from Nest's metadata, the same way the
 * guard reads it, so tests learn which operations are public without a hand-kept list.
 */
export function declaredAccess(app: INestApplication): Map<string, Access | undefined> {
  const declared = new Map<string, Access | undefined>();
  const scanner = new MetadataScanner();
  const reflector = new Reflector();
  const providers = [...app.get(ModulesContainer).values()].flatMap((m) => [...m.providers.values()]);
  for (const wrapper of providers) {
    const proto = wrapper.instance && Object.getPrototypeOf(wrapper.instance);
    if (!proto) continue;
    for (const method of scanner.getAllMethodNames(proto)) {
      const handler = proto[method];
      const type = Reflect.getMetadata(RESOLVER_TYPE, handler);
      if (!['Query', 'Mutation', 'Subscription'].includes(type)) continue;
      const name = Reflect.getMetadata(RESOLVER_NAME, handler) ?? method;
      declared.set(
        `${type}.${name}`,
        reflector.getAllAndOverride<Access | undefined>(ACCESS_METADATA, [handler, wrapper.metatype as never]),
      );
    }
  }
  return declared;
}
