/**
 * A tiny client for signoff's REST API as an API user sees it: JSON requests with the bearer
 * token (and optionally an `X-Signoff-Actor`), polling helpers, and a reader for server-sent
 * events over `fetch`.
 */
import { waitFor } from './wait.js';

/** Loose JSON as the API returns it; tests assert on its fields. */
export type Json = any;

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else undefined. */
  body: Json;
  text: string;
}

export interface RequestOptions {
  /** Sent as JSON (with Content-Type: application/json). */
  json?: unknown;
  /** Sent as is; set the content type yourself through `headers`. */
  raw?: string;
  /** `console:alice` etc.; omitted means the token holder acts. */
  actor?: string;
  /** Another token, or null to send none. Defaults to the client's token. */
  token?: string | null;
  headers?: Record<string, string>;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  headersFor(o: RequestOptions = {}): Record<string, string> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? this.token : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (o.actor !== undefined) headers['x-signoff-actor'] = o.actor;
    if (o.json !== undefined) headers['content-type'] = 'application/json';
    return headers;
  }

  async request(method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse> {
    const res = await fetch(this.url(path), {
      method,
      headers: this.headersFor(o),
      ...(o.json !== undefined ? { body: JSON.stringify(o.json) } : o.raw !== undefined ? { body: o.raw } : {}),
    });
    const text = await res.text();
    let body: Json;
    if ((res.headers.get('content-type') ?? '').includes('application/json')) body = JSON.parse(text);
    return { status: res.status, headers: res.headers, body, text };
  }

  get(path: string, o?: RequestOptions) {
    return this.request('GET', path, o);
  }

  post(path: string, o?: RequestOptions) {
    return this.request('POST', path, o);
  }

  /** Submits a job and expects 201; returns the job JSON. */
  async submit(brief: string, o: { actor?: string; pipeline?: string } = {}): Promise<Json> {
    const r = await this.post('/api/v1/jobs', { json: { pipeline: o.pipeline ?? 'quick', brief }, ...(o.actor ? { actor: o.actor } : {}) });
    if (r.status !== 201) throw new Error(`submit failed: ${r.status} ${r.text}`);
    return r.body.job;
  }

  async job(id: number): Promise<Json> {
    const r = await this.get(`/api/v1/jobs/${id}`);
    if (r.status !== 200) throw new Error(`GET job ${id} failed: ${r.status} ${r.text}`);
    return r.body;
  }

  /** Polls GET /jobs/:id until `check` holds for the job; returns that job. */
  async waitForJob(id: number, check: (job: Json) => boolean, what: string): Promise<Json> {
    let last: Json;
    try {
      return await waitFor(async () => {
        last = await this.job(id);
        return check(last) ? last : undefined;
      }, `job ${id}: ${what}`, 15_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: state=${last?.state} stage=${last?.stage} error=${last?.error}`);
    }
  }

  /** Waits until the job waits at the (latest round of the) gate of `stage`, still pending. */
  waitAtGate(id: number, stage: string): Promise<Json> {
    return this.waitForJob(
      id,
      (j) => j.state === 'awaiting_approval' && j.stage === stage && latestGate(j, stage)?.state === 'pending',
      `awaiting approval at "${stage}"`,
    );
  }

  gate(id: number, stage: string, action: 'approve' | 'reject' | 'hold', o: RequestOptions = {}) {
    return this.post(`/api/v1/jobs/${id}/gates/${stage}/${action}`, o);
  }

  async events(id: number): Promise<Json[]> {
    const r = await this.get(`/api/v1/jobs/${id}/events`);
    if (r.status !== 200) throw new Error(`GET events of job ${id} failed: ${r.status} ${r.text}`);
    return r.body.events;
  }

  /** Opens an SSE stream (`Accept: text/event-stream`) over fetch. */
  async stream(path: string, o: RequestOptions = {}): Promise<SseStream> {
    const controller = new AbortController();
    const res = await fetch(this.url(path), {
      headers: { accept: 'text/event-stream', ...this.headersFor(o) },
      signal: controller.signal,
    });
    if (!res.body) throw new Error(`no body on ${path}: ${res.status}`);
    return new SseStream(res, controller);
  }
}

/** The latest round of a stage's gate in a job's JSON. */
export function latestGate(job: Json, stage: string): Json | undefined {
  return (job.gates as Json[]).filter((g) => g.stage === stage).sort((a, b) => b.round - a.round)[0];
}

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/** Reads `id:`/`event:`/`data:` frames from a streaming response body. */
export class SseStream {
  readonly status: number;
  readonly headers: Headers;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private readonly pending: SseFrame[] = [];
  /** Every frame read so far, control frames (retry, comments) included. */
  readonly frames: SseFrame[] = [];

  constructor(
    res: Response,
    private readonly controller: AbortController,
  ) {
    this.status = res.status;
    this.headers = res.headers;
    this.reader = res.body!.getReader();
  }

  private parse(block: string): SseFrame {
    const frame: SseFrame = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        frame.comment = line.slice(1).trim();
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      else if (field === 'id' || field === 'event' || field === 'retry') frame[field] = value;
    }
    return frame;
  }

  /** The next frame of any kind; rejects when none arrives within `timeoutMs` or the stream ends. */
  async nextFrame(timeoutMs = 10_000): Promise<SseFrame> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no SSE frame within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      for (;;) {
        const ready = this.pending.shift();
        if (ready) return ready;
        const { done, value } = await Promise.race([this.reader.read(), deadline]);
        if (done) throw new Error('the SSE stream ended');
        this.buffer += this.decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = this.buffer.indexOf('\n\n')) >= 0) {
          const frame = this.parse(this.buffer.slice(0, cut));
          this.buffer = this.buffer.slice(cut + 2);
          this.frames.push(frame);
          this.pending.push(frame);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next frame that carries an event (skips `retry:` and `: ping` frames). */
  async next(timeoutMs = 10_000): Promise<SseFrame & { data: string; parsed: Json }> {
    for (;;) {
      const frame = await this.nextFrame(timeoutMs);
      if (frame.data !== undefined) return { ...frame, data: frame.data, parsed: JSON.parse(frame.data) };
    }
  }

  /** Reads event frames until one satisfies `check`; returns every event frame read, that one last. */
  async until(check: (f: SseFrame & { parsed: Json }) => boolean, timeoutMs = 10_000): Promise<(SseFrame & { data: string; parsed: Json })[]> {
    const seen: (SseFrame & { data: string; parsed: Json })[] = [];
    for (;;) {
      const f = await this.next(timeoutMs);
      seen.push(f);
      if (check(f)) return seen;
    }
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
    this.controller.abort();
  }
}
