import { createServer, type ServerResponse } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { runChecks } from '#config';
import { AgentService } from './agent.service.js';
import { agentMetrics } from './metrics.js';

/**
 * The agent's HTTP endpoints. `/health`: the process answers. `/ready`: Postgres answers, the chain node answers,
 * and RoDirectory lists the key file's sender as an account of the RO and its signer as the live signer of
 * RO_AGENT_SIGNER_KEY_ID (RoAgent.checkRegistration): an agent whose keys are not (or no longer) registered could
 * grant nothing the requester would accept. `/metrics`: see metrics.ts. The approval queue (policy `manual`):
 * `GET /queue` lists the waiting lease IDs, `POST /queue/<leaseId>/approve` or `/reject` decides one. They have no
 * authentication of their own: they listen on RO_AGENT_HOST (loopback by default) on the RO's own machine.
 */
export async function serveAgentHttp(app: INestApplicationContext): Promise<{ url: string; close(): Promise<void> }> {
  const agent = app.get(AgentService);
  const db = app.get(DataSource);
  const { config } = agent;
  const metrics = agentMetrics(agent);
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify(body, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const fail = (e: unknown) =>
      json(res, 503, {
        ok: false,
        error: String((e as Error)?.message ?? e)
          .split('\n')[0]
          .slice(0, 200),
      });
    if (req.method === 'GET' && path === '/health') return json(res, 200, { ok: true });
    if (req.method === 'GET' && path === '/ready') {
      runChecks(
        {
          postgres: () => db.query('SELECT 1'),
          chain: () => agent.provider.getBlockNumber(),
          directory: () => agent.agent.checkRegistration(),
        },
        config.dependencyTimeoutMs,
      ).then((r) => json(res, r.ok ? 200 : 503, r), fail);
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      metrics.render().then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body), fail);
      return;
    }
    if (req.method === 'GET' && path === '/queue') return json(res, 200, { policy: config.roAgent.policy, pending: agent.agent.pending() });
    const decision = /^\/queue\/([1-9]\d{0,76})\/(approve|reject)$/.exec(path);
    if (req.method === 'POST' && decision) {
      const leaseId = BigInt(decision[1]);
      if (!agent.agent.pending().includes(leaseId)) return json(res, 404, { error: `lease ${leaseId} is not waiting for a decision` });
      agent.decide(leaseId, decision[2] === 'approve').then((d) => json(res, 200, d), fail);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.roAgent.port, config.roAgent.host, () => resolve());
  });
  const addr = server.address();
  return {
    url: `http://${config.roAgent.host}:${typeof addr === 'object' && addr ? addr.port : config.roAgent.port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
