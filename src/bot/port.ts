/**
 * The one small port every chat surface implements. A surface turns platform payloads into
 * engine calls (through the shared command grammar and `engine.act`) and delivers the outbox by
 * rendering the shared views; the orchestrator never knows which platforms exist.
 */
import type { FastifyInstance } from 'fastify';

export interface ChatSurface {
  /** The outbox target this surface delivers (`slack`, `discord`). */
  readonly name: string;
  /** Routes on signoff's one HTTP port, for surfaces that receive over HTTP. Called before listening. */
  registerRoutes?(app: FastifyInstance): void;
  /** Connects to the platform and starts delivering; resolves once connected. */
  start(): Promise<void>;
  /** Stops delivering and disconnects; undelivered outbox rows stay for the next start. */
  stop(): Promise<void>;
  /** Something new is in the outbox: deliver soon. */
  poke(): void;
}
