/**
 * The one small port every chat surface implements. A surface turns platform payloads into
 * engine calls (through the shared command grammar and `engine.act`) and delivers the outbox by
 * rendering the shared views; the orchestrator never knows which platforms exist.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CourierDuty } from '../cluster/courier.js';

/** A plain node:http handler for one POST path. */
export type RawHttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A surface has two halves. `start`/`stop` are what every replica runs (taking the platform's
 * requests and answering people). `startCourier`/`stopCourier` (../cluster/courier.ts) are what
 * only the chat courier runs: delivering the outbox and, for Discord, the gateway connection.
 */
export interface ChatSurface extends CourierDuty {
  /** The outbox target this surface delivers (`slack`, `discord`). */
  readonly name: string;
  /**
   * POST endpoints on signoff's one HTTP port, for surfaces that receive over HTTP (path →
   * handler). They are served ahead of the HTTP framework, as plain node:http: a platform's
   * webhook is read as raw bytes (its signature covers them) and must be answered fast.
   */
  httpEndpoints?(): Record<string, RawHttpHandler>;
  /** Checks the platform's credentials and starts taking its requests; resolves once it does. */
  start(): Promise<void>;
  /** Stops taking requests (after the courier half has stopped). */
  stop(): Promise<void>;
}
