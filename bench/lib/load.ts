/**
 * Sends a wave of HTTP POSTs all at once (one keep-alive socket each) and times each one from
 * the moment it is handed to the socket to the end of its answer. Plain node:http, not fetch, so
 * the client adds as little of its own time as it can.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export interface WaveRequest {
  /** The server this request goes to when not the wave's (a wave spread over replicas). */
  baseUrl?: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface WaveResult {
  latenciesMs: number[];
  statuses: number[];
  /** From the first request sent to the last answer received. */
  wallMs: number;
}

export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

export function sendWave(baseUrl: string, requests: readonly WaveRequest[], agent: http.Agent): Promise<WaveResult> {
  const t0 = performance.now();
  return Promise.all(
    requests.map(
      (r) =>
        new Promise<{ ms: number; status: number }>((resolve, reject) => {
          const url = new URL(r.baseUrl ?? baseUrl);
          const body = Buffer.from(r.body);
          const req = http.request(
            { host: url.hostname, port: url.port, path: r.path, method: 'POST', agent, headers: { ...r.headers, 'content-length': String(body.length) } },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          const started = performance.now();
          req.end(body);
        }),
    ),
  ).then((all) => ({ latenciesMs: all.map((a) => a.ms), statuses: all.map((a) => a.status), wallMs: performance.now() - t0 }));
}

/** A load generator in a child process (see load-client.ts). */
export interface LoadClient {
  wave(url: string, requests: readonly WaveRequest[]): Promise<WaveResult>;
  close(): Promise<void>;
}

export function startLoadClient(): LoadClient {
  const child = fork(fileURLToPath(new URL('./load-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let pending: { resolve(r: WaveResult): void; reject(e: Error): void } | undefined;
  child.on('message', (m: { ok: true; result: WaveResult } | { ok: false; error: string }) => {
    const p = pending;
    pending = undefined;
    if (m.ok) p?.resolve(m.result);
    else p?.reject(new Error(m.error));
  });
  child.on('exit', (code) => pending?.reject(new Error(`the load client exited (${code})`)));
  return {
    wave(url, requests) {
      if (pending) return Promise.reject(new Error('one wave at a time'));
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send({ url, requests });
      });
    },
    close() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.send('exit');
      });
    },
  };
}
