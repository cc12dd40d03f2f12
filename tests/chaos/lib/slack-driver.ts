/**
 * Driving signoff's Slack HTTP endpoint the way Slack does (signed form posts), and reading the
 * fake Slack's recordings the way the chaos checks need them: every visible post in arrival
 * order (messages and file uploads merged), and gate cards indexed by their actions block id.
 */
import type { FakeSlack, StoredMessage, StoredUpload } from '../../helpers/fake-slack.js';
import { slackSignature } from '../../helpers/slack-signing.js';

export const CHAOS_SIGNING_SECRET = 'chaos-signing-secret-0123456789';
export const CHAOS_BOT_TOKEN = 'xoxb-signoff-chaos';

/** A request exactly as it went out, so that it can be replayed byte for byte. */
export interface SignedRequest {
  body: string;
  timestamp: number;
  signature: string;
  contentType: string;
}

/** What came back: an HTTP answer, or no answer at all (refused connection, reset, timeout). */
export type Delivery = { status: number; text: string } | { status: 0; error: string };

export function signForm(fields: Record<string, string>, secret = CHAOS_SIGNING_SECRET, timestamp = Math.floor(Date.now() / 1000)): SignedRequest {
  const body = new URLSearchParams(fields).toString();
  return { body, timestamp, signature: slackSignature(secret, timestamp, body), contentType: 'application/x-www-form-urlencoded' };
}

export function signInteraction(payload: unknown, secret = CHAOS_SIGNING_SECRET, timestamp?: number): SignedRequest {
  return signForm({ payload: JSON.stringify(payload) }, secret, timestamp);
}

/** Sends (or re-sends) a signed request to `${baseUrl}/slack/events`. Never throws. */
export async function send(baseUrl: string, req: SignedRequest, extraHeaders: Record<string, string> = {}): Promise<Delivery> {
  try {
    const res = await fetch(`${baseUrl}/slack/events`, {
      method: 'POST',
      headers: {
        'content-type': req.contentType,
        'x-slack-request-timestamp': String(req.timestamp),
        'x-slack-signature': req.signature,
        ...extraHeaders,
      },
      body: req.body,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, error: (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message };
  }
}

/** One visible post, in the order the fake received it. */
export type Post =
  | { kind: 'message'; order: number; channel: string; ts: string; threadTs: string | undefined; blocks: unknown[] | undefined }
  | { kind: 'upload'; order: number; channel: string | undefined; threadTs: string | undefined; fileIds: string[]; comment: string | undefined };

export interface GateCardRef {
  channel: string;
  ts: string;
  blockId: string;
  /** The value of the card's buttons, as posted. */
  value: string;
}

/**
 * Records every message posted and every completed upload of `fake`, in arrival order, and
 * indexes gate cards (messages posted with a `gate:<job>:<stage>:<round>` actions block).
 * It wraps the fake's own collections; the fake's behaviour does not change.
 */
export class PostRecorder {
  readonly posts: Post[] = [];
  /** blockId → every card posted with that block id (more than one = a duplicate card). */
  readonly cards = new Map<string, GateCardRef[]>();
  private group: Extract<Post, { kind: 'upload' }> | undefined;

  constructor(readonly fake: FakeSlack) {
    const messages = fake.messages;
    const set = messages.set.bind(messages);
    messages.set = (key: string, value: StoredMessage) => {
      if (!messages.has(key)) this.onMessage(value);
      return set(key, value);
    };
    const uploads = fake.uploads;
    const push = uploads.push.bind(uploads);
    uploads.push = (...items: StoredUpload[]) => {
      for (const item of items) this.onUpload(item);
      return push(...items);
    };
  }

  private onMessage(m: StoredMessage): void {
    this.posts.push({ kind: 'message', order: this.posts.length, channel: m.channel, ts: m.ts, threadTs: m.thread_ts, blocks: m.blocks });
    for (const block of (m.blocks ?? []) as { type?: string; block_id?: string; elements?: { value?: string }[] }[]) {
      if (block.type !== 'actions' || !block.block_id?.startsWith('gate:')) continue;
      const list = this.cards.get(block.block_id) ?? [];
      list.push({ channel: m.channel, ts: m.ts, blockId: block.block_id, value: block.elements?.[0]?.value ?? '' });
      this.cards.set(block.block_id, list);
    }
  }

  /** The files of one files.completeUploadExternal call are pushed in one synchronous run: one post. */
  private onUpload(u: StoredUpload): void {
    if (this.group && this.group.threadTs === u.threadTs && this.group.channel === u.channel) {
      this.group.fileIds.push(u.fileId);
      return;
    }
    const post: Extract<Post, { kind: 'upload' }> = { kind: 'upload', order: this.posts.length, channel: u.channel, threadTs: u.threadTs, fileIds: [u.fileId], comment: u.initialComment };
    this.posts.push(post);
    this.group = post;
    queueMicrotask(() => {
      if (this.group === post) this.group = undefined;
    });
  }

  /** The first card posted for a gate round, if any. */
  card(job: number, stage: string, round: number): GateCardRef | undefined {
    return this.cards.get(`gate:${job}:${stage}:${round}`)?.[0];
  }

  /** Messages whose current content still has gate buttons (an undecided or forgotten card). */
  cardsWithButtons(): StoredMessage[] {
    return this.fake.messageList().filter((m) => (m.blocks as { type?: string }[] | undefined)?.some((b) => b.type === 'actions'));
  }
}
