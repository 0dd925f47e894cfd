import { createServer, type Server } from 'node:http';
import { withDeadline } from './deadline.js';

/** One dependency's readiness check: resolves when the dependency answers, throws (or times out) otherwise. */
export type HealthCheck = () => Promise<unknown>;

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; ms: number; error?: string }>;
}

/** Runs the checks in parallel, each bounded by `timeoutMs`: a hung dependency reads as down, never as a hang. */
export async function runChecks(checks: Record<string, HealthCheck>, timeoutMs: number): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const start = Date.now();
      try {
        await withDeadline(Promise.resolve().then(check), timeoutMs, name);
        return [name, { ok: true, ms: Date.now() - start }] as const;
      } catch (e) {
        return [
          name,
          {
            ok: false,
            ms: Date.now() - start,
            error: String((e as Error)?.message ?? e)
              .split('\n')[0]
              .slice(0, 200),
          },
        ] as const;
      }
    }),
  );
  return { ok: entries.every(([, r]) => r.ok), checks: Object.fromEntries(entries) };
}

export interface HealthEndpoints {
  /** liveness: false only when the process cannot recover by itself and should be restarted */
  live: () => Promise<{ ok: boolean }>;
  /** readiness: the app can do its job now (each dependency answers) */
  ready: () => Promise<{ ok: boolean }>;
  /** `GET /metrics`: the Prometheus text of the app's registry, when it has one */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}

/**
 * `GET /health` and `GET /ready` on a small HTTP server (for the apps that have no HTTP server of their own):
 * 200 with a JSON body when ok, 503 when not (what a Kubernetes probe or a load balancer reads); `GET /metrics` too
 * when the app gives its registry.
 */
export async function serveHealth(host: string, port: number, endpoints: HealthEndpoints): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && endpoints.metrics && req.method === 'GET') {
      endpoints.metrics().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
        (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e)),
      );
      return;
    }
    const which = path === '/health' ? endpoints.live : path === '/ready' ? endpoints.ready : null;
    if (!which || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    which().then(
      (body) => res.writeHead(body.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (e) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: String(e) })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, url: `http://${host}:${typeof addr === 'object' && addr ? addr.port : port}` };
}
