/**
 * Server-sent events: catch up from the store after the id the client last saw (query `after`
 * or the `Last-Event-ID` header), then stream live events. Slow clients are cut off rather than
 * buffered without bound; EventSource reconnects and resumes.
 *
 * Live events are the cluster's, in id order (engine.events.onOrdered: on PostgreSQL every
 * replica's, read from the table). The catch-up reads only up to the feed's horizon, the id up to
 * which no event can still appear: a read past it could see an event whose smaller-id neighbour
 * commits a moment later, and a position past that neighbour would skip it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StoredEvent } from '../store/store.js';
import type { Engine } from '../orchestrator/engine.js';
import { eventJson } from './job-json.js';

const MAX_BUFFERED_BYTES = 1 << 20;
const HEARTBEAT_MS = 15_000;

export interface StreamSpec {
  /** Events after the given position, oldest first, at most `limit`. */
  fetch(after: number, limit: number): Promise<StoredEvent[]>;
  /** Whether a live event belongs to this stream. */
  matches(e: StoredEvent): boolean;
  /** The event's position in this stream (a per-job seq, or the global id). */
  position(e: StoredEvent): number;
  /** The frame's data (default: the API's event JSON); undefined skips the event. */
  render?(e: StoredEvent): unknown;
  /** A fixed SSE event name for every frame (default: the event's type). */
  eventName?: string;
}

export function wantsEventStream(req: FastifyRequest): boolean {
  return String(req.headers.accept ?? '').includes('text/event-stream');
}

/** Open streams, so the server can end them when it closes (they never go idle by themselves). */
const open = new Set<() => void>();

/** Ends every open event stream; call before closing the server. */
export function closeAllStreams(): void {
  for (const close of [...open]) close();
}

export function streamEvents(engine: Engine, req: FastifyRequest, reply: FastifyReply, after: number, spec: StreamSpec): void {
  const lastId = Number(req.headers['last-event-id']);
  let last = Number.isInteger(lastId) && lastId >= 0 ? Math.max(lastId, after) : after;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    // Headers set by hooks (CORS, security) before the stream took over the response.
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-content-type-options': 'nosniff',
  });
  res.write('retry: 2000\n\n');
  let closed = false;
  const send = async (e: StoredEvent) => {
    const pos = spec.position(e);
    if (closed || pos <= last) return;
    last = pos;
    const data = spec.render ? await spec.render(e) : eventJson(e);
    if (data === undefined || closed) return;
    res.write(`id: ${pos}\nevent: ${spec.eventName ?? e.type}\ndata: ${JSON.stringify(data)}\n\n`);
    if (res.writableLength > MAX_BUFFERED_BYTES) close();
  };
  // Frames go out one after another, in order, though rendering one may read the store.
  let frames = Promise.resolve();
  const enqueue = (e: StoredEvent) => {
    frames = frames.then(() => send(e)).catch(() => close());
  };
  // Subscribed before the catch-up: live events wait until it is done, then those already sent
  // are skipped by position, so no event can fall between the two.
  let catchingUp = true;
  const early: StoredEvent[] = [];
  const off = engine.events.onOrdered((e) => {
    if (!spec.matches(e)) return;
    if (catchingUp) early.push(e);
    else enqueue(e);
  });
  // Read after subscribing: live events from here on all have larger ids.
  const horizon = engine.events.horizon();
  void (async () => {
    try {
      for (let cursor = last; ; ) {
        const batch = await spec.fetch(cursor, 500);
        const final = batch.filter((e) => e.id <= horizon);
        final.forEach(enqueue);
        if (batch.length < 500 || final.length < batch.length || closed) break;
        cursor = spec.position(batch.at(-1)!);
      }
    } catch {
      close();
    }
    catchingUp = false;
    early.splice(0).forEach(enqueue);
  })();
  const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
  function close() {
    if (closed) return;
    closed = true;
    off();
    clearInterval(heartbeat);
    open.delete(close);
    res.end();
  }
  open.add(close);
  req.raw.on('close', close);
  res.on('error', close);
}
