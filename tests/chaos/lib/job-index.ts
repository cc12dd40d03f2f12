/**
 * What the API says about jobs, for drivers that know jobs by their brief: one shared poll of
 * GET /api/v1/jobs, and a way to wait for a reading taken after a given moment (after a restart,
 * that is the only reading that counts).
 */
import type { Keeper } from './keeper.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class JobIndex {
  readonly byBrief = new Map<string, { id: number; state: string }>();
  private readAt = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly keeper: Keeper,
    private readonly deadline: number,
  ) {}

  stateOf(id: number): string | undefined {
    for (const j of this.byBrief.values()) if (j.id === id) return j.state;
    return undefined;
  }

  /** Resolves once a reading that started after `since` is in (readings are shared). */
  async refresh(since: number): Promise<void> {
    while (this.readAt <= since && Date.now() <= this.deadline) {
      this.reading ??= this.read().finally(() => (this.reading = undefined));
      await this.reading;
      if (this.readAt <= since) await sleep(20);
    }
  }

  private async read(): Promise<void> {
    await this.keeper.up();
    const t = Date.now();
    try {
      let before: number | undefined;
      for (;;) {
        const { status, json } = await this.keeper.child.api('GET', `/jobs?limit=500${before ? `&before=${before}` : ''}`);
        if (status !== 200) throw new Error(`GET /jobs answered ${status}`);
        for (const j of json.jobs as { id: number; brief: string; state: string }[]) this.byBrief.set(j.brief, { id: j.id, state: j.state });
        if (json.jobs.length < 500) break;
        before = json.jobs[json.jobs.length - 1].id;
      }
      this.readAt = t;
    } catch {
      await sleep(50);
    }
  }
}
