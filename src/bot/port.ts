/**
 * The one small port every chat surface implements. A surface turns platform payloads into
 * engine calls (through the shared command grammar and `engine.act`) and delivers the outbox by
 * rendering the shared views; the orchestrator never knows which platforms exist.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A plain node:http handler for one POST path. */
export type RawHttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ChatSurface {
  /** The outbox target this surface delivers (`slack`, `discord`). */
  readonly name: string;
  /**
   * POST endpoints on signoff's one HTTP port, for surfaces that receive over HTTP (path →
   * handler). They are served ahead of the HTTP framework, as plain node:http: a platform's
   * webhook is read as raw bytes (its signature covers them) and must be answered fast.
   */
  httpEndpoints?(): Record<string, RawHttpHandler>;
  /** Connects to the platform and starts delivering; resolves once connected. */
  start(): Promise<void>;
  /** Stops delivering and disconnects; undelivered outbox rows stay for the next start. */
  stop(): Promise<void>;
  /** Something new is in the outbox: deliver soon. */
  poke(): void;
}
