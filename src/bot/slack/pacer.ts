/**
 * Slack allows about one chat.postMessage per second per channel, with short bursts, counted
 * when posts ARRIVE. The pacer runs one post per channel at a time and counts each when it has
 * completed, at 90% of the configured rate, so retries and slow connections cannot push signoff
 * over the limit; edits (chat.update) are not paced.
 */
export class ChannelPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number; tail: Promise<unknown> }>();
  private readonly perSecond: number;

  constructor(
    perSecond: number,
    private readonly burst = 3,
  ) {
    this.perSecond = perSecond * 0.9;
  }

  /** Runs `post` when the channel may take another message. */
  run<T>(channel: string, post: () => Promise<T>): Promise<T> {
    const b = this.buckets.get(channel) ?? { tokens: this.burst, at: Date.now(), tail: Promise.resolve() };
    this.buckets.set(channel, b);
    const turn = b.tail.then(async () => {
      await this.ready(b);
      try {
        return await post();
      } finally {
        this.refill(b);
        b.tokens -= 1;
      }
    });
    b.tail = turn.catch(() => undefined);
    return turn;
  }

  private refill(b: { tokens: number; at: number }): void {
    const now = Date.now();
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
  }

  private async ready(b: { tokens: number; at: number }): Promise<void> {
    for (;;) {
      this.refill(b);
      if (b.tokens >= 1) return;
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - b.tokens) / this.perSecond) * 1000)));
    }
  }
}
