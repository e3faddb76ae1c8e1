/**
 * The operations endpoint of a node, on its own port (--metrics-port) so it can stay on a private
 * interface while the service ports face the internet:
 *
 *   GET /metrics  Prometheus text format
 *   GET /healthz  200 {"status":"ok", node, uptimeSeconds} while the process runs
 *   GET /readyz   200 {"status":"ready", node, checks} or 503 {"status":"not_ready", node, checks, problems}
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Readiness } from './health.js';

export interface OpsServer {
  /** `http://HOST:PORT` (the endpoints are below it). */
  readonly url: string;
  close(): Promise<void>;
}

export interface OpsSources {
  readonly node: string;
  readonly registry: Registry;
  readiness(): Promise<Readiness>;
}

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body) + '\n');
}

export async function startOpsServer(sources: OpsSources, host: string, port: number): Promise<OpsServer> {
  const started = Date.now();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: { code: 'method_not_allowed', message: 'use GET' } });
      return;
    }
    switch (path) {
      case '/metrics':
        sources.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': sources.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
        );
        return;
      case '/healthz':
        json(res, 200, { status: 'ok', node: sources.node, uptimeSeconds: Math.round((Date.now() - started) / 1000) });
        return;
      case '/readyz':
        sources.readiness().then(
          (r) => {
            const problems = Object.entries(r.checks).filter(([, v]) => v !== 'ok').map(([k, v]) => `${k}: ${v}`);
            json(res, r.ready ? 200 : 503, r.ready ? { status: 'ready', node: sources.node, checks: r.checks } : { status: 'not_ready', node: sources.node, checks: r.checks, problems });
          },
          (err: unknown) => json(res, 503, { status: 'not_ready', node: sources.node, problems: [`readiness failed: ${String(err)}`] }),
        );
        return;
      default:
        json(res, 404, { error: { code: 'not_found', message: 'endpoints: GET /metrics, /healthz, /readyz' } });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen for metrics and health on ${host}:${port}: ${err.message}; pick another --metrics-port`, { cause: err })));
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  const shown = reachable.includes(':') ? `[${reachable}]` : reachable;
  return {
    url: `http://${shown}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
