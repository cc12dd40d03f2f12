/**
 * A signoff cluster of real processes on one PostgreSQL database: N replicas (`signoff start`)
 * and M workers (`signoff worker`, once that command exists), each with its own data directory,
 * port and log file, sharing the API token, the database URL and the chat settings, as a
 * deployment would. Any member can be SIGKILLed and replaced (same directory and port, a new
 * replica id: a replacement pod gets a new name, so a dead holder's leases are never mistaken
 * for the new one's).
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../helpers/signoff-process.js';
import { SignoffChild, type ChildOptions, type Exit } from '../../chaos/lib/child.js';
import { apartWrapper } from './apart.js';
import { health } from './health.js';

export type Role = 'replica' | 'worker';

/** One process slot: a replacement keeps the slot's directory and port. */
export interface Member {
  role: Role;
  /** `replica-1`, `worker-2`… */
  name: string;
  /** 0 for the first process in this slot, +1 for each replacement. */
  generation: number;
  /** SIGNOFF_REPLICA_ID of the current process: `<name>-g<generation>`. */
  id: string;
  options: ChildOptions;
  child: SignoffChild;
  /** Set while the harness itself stops or kills the process (its exit is no surprise). */
  expectingExit: boolean;
}

export interface ClusterOptions {
  replicas: number;
  workers: number;
  databaseUrl: string;
  configPath: string;
  /** Each member gets `<dir>/<name>/` (data) and `<dir>/<name>.log`. */
  dir: string;
  /** Added to every member's environment (chat tokens, log level…). */
  env?: Record<string, string>;
  /** Pools the workers serve (SIGNOFF_POOLS), default `default`. */
  pools?: string;
  /**
   * Run each member as if on a host of its own: the other members' directories are hidden from
   * it (see apart.ts). Default false.
   */
  apart?: boolean;
  /** Called when a member exits without the harness asking it to. */
  onUnexpectedExit?: (member: Member, exit: Exit) => void;
}

export class Cluster {
  private turn = 0;

  private constructor(
    readonly members: Member[],
    private readonly o: ClusterOptions,
  ) {}

  /**
   * Starts the first replica alone (it creates the schema on an empty database), then the other
   * replicas and the workers together, and resolves when every one answers /healthz.
   */
  static async start(o: ClusterOptions): Promise<Cluster> {
    const slots: { role: Role; name: string }[] = [
      ...Array.from({ length: o.replicas }, (_, i) => ({ role: 'replica' as const, name: `replica-${i + 1}` })),
      ...Array.from({ length: o.workers }, (_, i) => ({ role: 'worker' as const, name: `worker-${i + 1}` })),
    ];
    const members: Member[] = [];
    // Every slot's directory exists before any process starts, so each can be hidden from the others.
    for (const slot of slots) fs.mkdirSync(path.join(o.dir, slot.name), { recursive: true });
    for (const slot of slots) {
      const dataDir = path.join(o.dir, slot.name);
      const others = slots.filter((x) => x !== slot).map((x) => path.join(o.dir, x.name));
      const options: ChildOptions = {
        configPath: o.configPath,
        dataDir,
        port: await freePort(),
        logFile: path.join(o.dir, `${slot.name}.log`),
        env: { ...o.env, SIGNOFF_DATABASE_URL: o.databaseUrl, ...(slot.role === 'worker' ? { SIGNOFF_POOLS: o.pools ?? 'default' } : {}) },
        ...(slot.role === 'worker' ? { args: ['worker'] } : {}),
        ...(o.apart ? { wrapper: apartWrapper(others) } : {}),
      };
      members.push({ ...slot, generation: 0, id: `${slot.name}-g0`, options, child: undefined as unknown as SignoffChild, expectingExit: false });
    }
    const cluster = new Cluster(members, o);
    const [first, ...rest] = members;
    try {
      if (first) await cluster.launch(first);
      await Promise.all(rest.map((m) => cluster.launch(m)));
    } catch (err) {
      await cluster.stop().catch(() => undefined);
      throw err;
    }
    return cluster;
  }

  get replicas(): Member[] {
    return this.members.filter((m) => m.role === 'replica');
  }

  get workers(): Member[] {
    return this.members.filter((m) => m.role === 'worker');
  }

  /** Replicas whose process is running (not necessarily ready). */
  liveReplicas(): Member[] {
    return this.replicas.filter((m) => m.child.alive && !m.expectingExit);
  }

  /** The live replicas in turn, as a load balancer would hand out requests; undefined if none. */
  nextReplica(): Member | undefined {
    const live = this.liveReplicas();
    if (!live.length) return undefined;
    this.turn = (this.turn + 1) % live.length;
    return live[this.turn];
  }

  /**
   * The replica whose /healthz says `courier: true`; undefined when none says so, and `unknown`
   * when no replica reports the field at all (a build from before the courier election).
   */
  async courier(): Promise<Member | 'unknown' | undefined> {
    const answers = await Promise.all(this.liveReplicas().map(async (m) => ({ m, h: await health(m.child.url) })));
    const found = answers.find((a) => a.h?.courier === true)?.m;
    if (found) return found;
    return answers.some((a) => a.h && typeof a.h.courier === 'boolean') ? undefined : 'unknown';
  }

  /** SIGKILLs the member's process and waits until it is gone. */
  async kill(m: Member): Promise<void> {
    m.expectingExit = true;
    await m.child.kill('SIGKILL');
  }

  /** Starts a new process in the member's slot (same directory and port, next replica id). */
  async replace(m: Member): Promise<void> {
    if (m.child.alive) await this.kill(m);
    m.generation += 1;
    m.id = `${m.name}-g${m.generation}`;
    await this.launch(m);
  }

  /** SIGTERMs every live member; the exits, by member name. */
  async stop(): Promise<Map<string, Exit>> {
    const exits = new Map<string, Exit>();
    await Promise.all(
      this.members.map(async (m) => {
        if (!m.child?.alive) return;
        m.expectingExit = true;
        exits.set(m.name, await m.child.kill('SIGTERM'));
      }),
    );
    return exits;
  }

  private async launch(m: Member): Promise<void> {
    m.expectingExit = false;
    const options = { ...m.options, env: { ...m.options.env, SIGNOFF_REPLICA_ID: m.id } };
    m.child = SignoffChild.spawn(options);
    const child = m.child;
    void child.exited.then((exit) => {
      if (!m.expectingExit && m.child === child) this.o.onUnexpectedExit?.(m, exit);
    });
    await child.healthy(60_000);
  }
}
