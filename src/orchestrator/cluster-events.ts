/**
 * Who hears which events. Three audiences, because replicas share one database:
 * - `local`: this process's own commits, as they happen (metrics that count this process's work:
 *   summed over replicas they count each event once);
 * - `any`: every event of the cluster, each once: this process's at once, other replicas' when
 *   the store's feed reads them (chat drainers' pokes; a test's listener);
 * - `ordered`: every event of the cluster in id order, with the id up to which nothing can still
 *   appear (server-sent events, whose `id:` a client resumes from).
 * On a store without a feed (SQLite: one process) all three are this process's commits.
 */
import type { Logger } from 'pino';
import type { Store, StoredEvent } from '../store/store.js';

type Fn = (event: StoredEvent) => void;

/** Local ids the feed has not delivered yet are remembered, at most this many (a feed that stopped must not grow it). */
const MAX_PENDING_LOCAL = 100_000;

export class ClusterEvents {
  private readonly local = new Set<Fn>();
  private readonly any = new Set<Fn>();
  private readonly ordered = new Set<Fn>();
  /** Ids this process already told `any` about; the feed skips them once. */
  private readonly toldLocally = new Set<number>();
  private off: (() => void) | undefined;
  /** The feed's position when it started: it never delivers these ids, so this process tells them itself. */
  private floor = 0;

  constructor(private readonly store: Store, private readonly log: Logger) {}

  /** Starts reading other replicas' events (when the store has a feed). */
  async start(): Promise<void> {
    const feed = this.store.feed;
    if (!feed || this.off) return;
    await feed.start();
    this.floor = feed.delivered;
    this.off = feed.subscribe((e) => {
      this.tell(this.ordered, e);
      if (!this.toldLocally.delete(e.id)) this.tell(this.any, e);
    });
  }

  stop(): void {
    this.off?.();
    this.off = undefined;
    this.toldLocally.clear();
  }

  /** An event this process committed. */
  committed(e: StoredEvent): void {
    this.tell(this.local, e);
    if (!this.off) {
      this.tell(this.any, e);
      this.tell(this.ordered, e);
      return;
    }
    // The feed may have read it first (this process tells after its post-commit work): then
    // everyone heard it already.
    if (e.id > this.floor && e.id <= this.store.feed!.delivered) return;
    this.tell(this.any, e);
    if (e.id > this.floor && this.toldLocally.size < MAX_PENDING_LOCAL) this.toldLocally.add(e.id);
  }

  onLocal(fn: Fn): () => void {
    return add(this.local, fn);
  }

  onAny(fn: Fn): () => void {
    return add(this.any, fn);
  }

  onOrdered(fn: Fn): () => void {
    return add(this.ordered, fn);
  }

  /** Ids up to this one have all been told to `ordered` listeners (Infinity without a feed: a read of the store is final). */
  horizon(): number {
    return this.off ? this.store.feed!.delivered : Infinity;
  }

  private tell(fns: Set<Fn>, e: StoredEvent): void {
    for (const fn of fns) {
      try {
        fn(e);
      } catch (err) {
        this.log.error({ err }, 'an event listener failed');
      }
    }
  }
}

function add(set: Set<Fn>, fn: Fn): () => void {
  set.add(fn);
  return () => set.delete(fn);
}
