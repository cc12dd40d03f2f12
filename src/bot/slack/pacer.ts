/**
 * Slack allows about one chat.postMessage per second per channel, with short bursts. The pacer
 * spaces posts per channel (a token bucket) so signoff stays under the limit instead of
 * collecting 429s; edits (chat.update) are not paced.
 */
export class ChannelPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst = 3,
  ) {}

  /** Resolves when a post to `channel` may go out. */
  async wait(channel: string): Promise<void> {
    for (;;) {
      const now = Date.now();
      const b = this.buckets.get(channel) ?? { tokens: this.burst, at: now };
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
      this.buckets.set(channel, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - b.tokens) / this.perSecond) * 1000)));
    }
  }
}
