/**
 * Keeps one signoff process running for a chaos run: SIGKILLs it on request, snapshots which
 * stages it left running (read-only, before the next process opens the store), restarts it on the
 * same port and data directory, and restarts it too (reporting a violation) if it dies on its own.
 * Drivers wait with `up()` while it is down; `generation` counts the processes so far.
 */
import type { StoreLocation } from '../../../src/store/audit.js';
import { readDb, runningStages, type DbSnapshot } from './checks.js';
import { SignoffChild, type ChildOptions } from './child.js';
import type { Keeper } from './keeper.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Restarter implements Keeper {
  child!: SignoffChild;
  /** 0 for the first process, +1 for each restart. */
  generation = 0;
  /** When the current process became healthy. */
  upSince = 0;
  restarts = 0;
  diedOnItsOwn = 0;
  /** Stages found running right after each kill, as `job:stage:run`. */
  readonly snapshots: Set<string>[] = [];
  /** Date.now() of each kill. */
  readonly killTimes: number[] = [];
  private isUp = false;
  private expectingExit = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly options: ChildOptions,
    private readonly store: StoreLocation,
    private readonly onViolation: (text: string) => void,
  ) {}

  async start(): Promise<void> {
    this.child = await SignoffChild.start(this.options);
    this.watch(this.child);
    this.markUp();
  }

  /** Resolves when a process is up (at once if it is). */
  up(): Promise<void> {
    return this.isUp ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** SIGKILL, snapshot, `downtimeMs` of nothing running, then a new process on the same data. */
  async killAndRestart(downtimeMs: number): Promise<void> {
    this.expectingExit = true;
    this.isUp = false;
    this.killTimes.push(Date.now());
    await this.child.kill('SIGKILL');
    await this.restart(downtimeMs);
  }

  /** Stops the process cleanly (SIGTERM); reports a violation if it does not exit 0. */
  async stop(): Promise<void> {
    this.expectingExit = true;
    const exit = await this.child.kill('SIGTERM');
    if (exit.code !== 0 && exit.signal !== 'SIGTERM') this.onViolation(`signoff did not stop cleanly on SIGTERM: ${JSON.stringify(exit)}`);
  }

  async read(): Promise<DbSnapshot> {
    return readDb(this.store);
  }

  private async restart(downtimeMs: number): Promise<void> {
    this.isUp = false;
    this.generation += 1;
    this.snapshots.push(await runningStages(this.store));
    await sleep(downtimeMs);
    this.restarts += 1;
    for (let attempt = 1; ; attempt++) {
      try {
        this.child = await SignoffChild.start(this.options);
        break;
      } catch (err) {
        this.onViolation(`signoff did not start again after a kill: ${(err as Error).message.slice(0, 2000)}`);
        if (attempt >= 3) throw err;
      }
    }
    this.expectingExit = false;
    this.watch(this.child);
    this.markUp();
  }

  private markUp(): void {
    this.isUp = true;
    this.upSince = Date.now();
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  private watch(c: SignoffChild): void {
    void c.exited.then((exit) => {
      if (this.expectingExit || c !== this.child) return;
      this.diedOnItsOwn += 1;
      this.onViolation(`signoff exited on its own (${JSON.stringify(exit)}); last output:\n${c.output.slice(-3000)}`);
      void this.restart(0);
    });
  }
}
