/**
 * A stand-in for the outside system an `external` stage notifies (a CI service, a render farm):
 * a real HTTP server on 127.0.0.1 that records every POST and can be told to fail or hang.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedPost {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export class NotifyReceiver {
  readonly posts: ReceivedPost[] = [];
  /** Answer this many POSTs with 500 before answering 200. */
  failFirst = 0;
  /** Never answer (a receiver that hangs, or dies mid-request). */
  hang = false;
  private server: http.Server | undefined;
  private readonly hanging: http.ServerResponse[] = [];
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        let body: unknown = raw;
        try {
          body = JSON.parse(raw);
        } catch {
          // recorded as text
        }
        this.posts.push({ path: req.url ?? '', headers: req.headers, body });
        if (this.hang) return void this.hanging.push(res);
        if (this.failFirst > 0) {
          this.failFirst -= 1;
          res.writeHead(500).end('not now');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  to(path: string): ReceivedPost[] {
    return this.posts.filter((p) => p.path === path);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
