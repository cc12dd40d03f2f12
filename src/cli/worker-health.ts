/**
 * `signoff worker`'s only HTTP surface: GET /healthz on SIGNOFF_HOST:SIGNOFF_PORT, so a process
 * supervisor or a load balancer can tell a live worker from a hung one. It answers the same
 * cluster facts as a replica's /healthz (never the courier: a worker delivers no chat); 503 while
 * the database does not answer. Everything else is 404.
 */
import http from 'node:http';
import { healthFacts, type HealthSources } from '../cluster/health.js';

/** Serves /healthz until `close()`; resolves once listening. */
export async function serveWorkerHealth(host: string, port: number, sources: HealthSources): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/healthz') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found', message: 'A signoff worker answers GET /healthz only.' }));
      return;
    }
    void healthFacts(sources).then((facts) => {
      const ok = facts.database === 'ok';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, role: 'worker', ...facts }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}` : '';
  return { url, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
