import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentService } from './agent.service.js';

/**
 * The agent's Prometheus registry, served at `/metrics`: its answers to lease requests by outcome, the expired uses
 * it recorded on chain (or found recorded, or the chain refused), and the requests waiting for a person (policy
 * `manual`). Counters start at 0 with each process (a restart re-reads the chain: past answers are SKIPPED then).
 */
export function agentMetrics(agent: AgentService): { registry: Registry; render(): Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openread_ro_agent_' });
  const decisions = new Counter({
    name: 'openread_ro_agent_lease_decisions_total',
    help: 'lease requests answered by this agent process, by outcome (GRANTED, DENIED, QUEUED, SKIPPED, FAILED)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const uses = new Counter({
    name: 'openread_ro_agent_expired_uses_total',
    help: 'fetches after expiry handled, by outcome (RECORDED on chain, ALREADY_RECORDED, FAILED: the chain refused)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'openread_ro_agent_pending_requests',
    help: 'lease requests waiting for approval (policy manual)',
    registers: [registry],
  });
  for (const o of ['GRANTED', 'DENIED', 'QUEUED', 'SKIPPED', 'FAILED']) decisions.inc({ outcome: o }, 0);
  for (const o of ['RECORDED', 'ALREADY_RECORDED', 'FAILED']) uses.inc({ outcome: o }, 0);
  agent.onDecisions(
    (ds) => ds.forEach((d) => decisions.inc({ outcome: d.outcome })),
    (ds) => ds.forEach((d) => uses.inc({ outcome: d.outcome })),
  );
  return {
    registry,
    render: async () => {
      pending.set(agent.agent.pending().length);
      return registry.metrics();
    },
  };
}
