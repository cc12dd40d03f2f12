/**
 * The crash-chaos campaign's keeper for a cluster (see tests/chaos/lib/keeper.ts): requests go to
 * the live replicas in turn, and each disruption follows a seeded plan: SIGKILL the courier,
 * another replica or a worker (then start a replacement in its slot), or restart PostgreSQL.
 */
import type { DbSnapshot } from '../../chaos/lib/checks.js';
import type { SignoffChild } from '../../chaos/lib/child.js';
import type { Keeper } from '../../chaos/lib/keeper.js';
import { readRunningStages } from '../../../src/store/audit.js';
import { Cluster, type ClusterOptions, type Member } from './cluster.js';
import type { OwnPostgres } from '../../helpers/own-postgres.js';
import { readDb } from '../../chaos/lib/checks.js';

export type Target = 'courier' | 'replica' | 'worker' | 'postgres';

/** What one disruption hit, for the summary. */
export interface Disruption {
  planned: Target;
  /** The member killed (its replica id), or `postgres`. */
  hit: string;
  /** Kill → a live replica's /healthz says `courier: true` (courier kills on a build that reports it). */
  courierFailoverMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** CONTRACT-12: another replica takes over chat delivery within 10 s of the courier's death. */
const FAILOVER_LIMIT_MS = 10_000;

export class ClusterKeeper implements Keeper {
  cluster!: Cluster;
  generation = 0;
  upSince = 0;
  restarts = 0;
  diedOnItsOwn = 0;
  readonly snapshots: Set<string>[] = [];
  readonly killTimes: number[] = [];
  readonly disruptions: Disruption[] = [];
  private waiters: (() => void)[] = [];
  private failovers: Promise<void>[] = [];

  constructor(
    private readonly options: Omit<ClusterOptions, 'onUnexpectedExit'>,
    private readonly pg: OwnPostgres,
    /** Disruption k hits plan[k]; past its end, another replica. */
    private readonly plan: Target[],
    private readonly violation: (text: string) => void,
  ) {}

  get child(): SignoffChild {
    const m = this.cluster.nextReplica() ?? this.cluster.replicas[0]!;
    return m.child;
  }

  async start(): Promise<void> {
    this.cluster = await Cluster.start({
      ...this.options,
      onUnexpectedExit: (m, exit) => {
        this.diedOnItsOwn += 1;
        this.violation(`${m.id} exited on its own (${JSON.stringify(exit)}); last output:\n${m.child.output.slice(-3000)}`);
        void this.cluster.replace(m).then(() => this.changed(), (err: Error) => this.violation(`${m.name} did not start again: ${err.message.slice(0, 2000)}`));
      },
    });
    this.changed();
  }

  up(): Promise<void> {
    return this.cluster.liveReplicas().length ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  async killAndRestart(downtimeMs: number): Promise<void> {
    const planned = this.plan[this.disruptions.length] ?? 'replica';
    this.generation += 1;
    this.killTimes.push(Date.now());
    if (planned === 'postgres') {
      this.disruptions.push({ planned, hit: 'postgres' });
      await this.pg.restart(downtimeMs);
      this.changed();
      return;
    }
    const victim = await this.pick(planned);
    const disruption: Disruption = { planned, hit: victim.id };
    this.disruptions.push(disruption);
    const killedAt = Date.now();
    await this.cluster.kill(victim);
    if (planned === 'courier') this.failovers.push(this.watchFailover(victim, killedAt, disruption));
    this.snapshots.push(await readRunningStages({ url: this.pg.url }));
    this.changed();
    await sleep(downtimeMs);
    try {
      await this.cluster.replace(victim);
    } catch (err) {
      this.violation(`${victim.name} did not start again after a kill: ${(err as Error).message.slice(0, 2000)}`);
      throw err;
    }
    this.restarts += 1;
    this.changed();
  }

  async stop(): Promise<void> {
    await Promise.all(this.failovers);
    for (const [name, exit] of await this.cluster.stop()) {
      if (exit.code !== 0 && exit.signal !== 'SIGTERM') this.violation(`${name} did not stop cleanly on SIGTERM: ${JSON.stringify(exit)}`);
    }
  }

  read(): Promise<DbSnapshot> {
    return readDb({ url: this.pg.url });
  }

  /** The member a planned kill hits; a plan for a part the cluster lacks falls back to a replica. */
  private async pick(planned: Exclude<Target, 'postgres'>): Promise<Member> {
    const live = this.cluster.liveReplicas();
    const courier = await this.cluster.courier();
    const courierMember = typeof courier === 'object' ? courier : undefined;
    if (planned === 'worker') {
      const workers = this.cluster.workers.filter((w) => w.child.alive);
      if (workers.length) return workers[this.disruptions.length % workers.length]!;
    }
    if (planned === 'courier' && courierMember) return courierMember;
    // Not the courier (or nobody says who it is): another replica, in turn.
    const others = live.filter((m) => m !== courierMember);
    const from = others.length ? others : live;
    return from[this.disruptions.length % from.length]!;
  }

  /** Times how long the replicas left take to elect a new courier. */
  private async watchFailover(victim: Member, killedAt: number, d: Disruption): Promise<void> {
    const until = killedAt + 30_000;
    while (Date.now() < until) {
      const c = await this.cluster.courier();
      if (c === 'unknown') return;
      if (c && c !== victim) {
        d.courierFailoverMs = Date.now() - killedAt;
        if (d.courierFailoverMs > FAILOVER_LIMIT_MS) this.violation(`a new courier took over ${d.courierFailoverMs} ms after ${victim.id} was killed (want ≤ ${FAILOVER_LIMIT_MS} ms)`);
        return;
      }
      // The replacement itself may win the election: that counts as a takeover too.
      if (c === victim && victim.child.alive && !victim.expectingExit) {
        d.courierFailoverMs = Date.now() - killedAt;
        return;
      }
      await sleep(100);
    }
    this.violation(`no replica became the courier within 30 s of ${victim.id}'s death`);
  }

  private changed(): void {
    this.upSince = Date.now();
    if (!this.cluster.liveReplicas().length) return;
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }
}
