/**
 * Delivers a job's outbox rows to Slack: the root status message (posted once, then edited when
 * the drainer asks, at most every few seconds), one message per gate (edited through its life),
 * thread replies for notices with their files.
 * Every part is idempotent: the ts of each message made is stored (chat_refs) before the row is
 * marked delivered, so a retried batch or a restart edits instead of posting again.
 */
import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Artifact, OutboxRow, Store } from '../../store/store.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import { deliverBatch } from '../deliver-batch.js';
import { NotCourierError, PermanentDeliveryError, type Delivered } from '../outbox-drainer.js';
import { gateCardView } from '../views/gate-card.js';
import { jobStatusView } from '../views/job-status.js';
import { withExternalNotes } from '../views/external-note.js';
import { noticeFor } from '../views/notice.js';
import { textExcerpts } from '../views/excerpts.js';
import { gateBlocks, noticeBlocks, statusBlocks } from './blocks.js';
import { ChannelPacer } from './pacer.js';
import { SlackCardImages, type UploadedFile } from './card-images.js';
import { diffUploadKey, roundDiffFor } from '../round-diff-for.js';
import type { RoundDiffView } from '../views/round-diff.js';
import type { SlackIdentities } from './identities.js';
import { SlackReach } from './reach.js';
import { cardWithMentions } from './reach-blocks.js';
import { cardReachFor } from '../views/ping.js';
import type { Gate } from '../../orchestrator/types.js';
import type { ArtifactReader } from '../../artifacts/contents.js';
import { localArtifacts } from '../../artifacts/local.js';

type WebClient = App['client'];
const TARGET = 'slack';
/** A chat_refs value meaning "a post was sent, its ts is not known yet". */
const PENDING = 'pending';
const METADATA_TYPE = 'signoff_message';
/** Slack errors that retrying will not fix. */
const PERMANENT = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'msg_too_long', 'invalid_auth', 'account_inactive', 'token_revoked', 'no_permission', 'missing_scope']);

export interface SlackNotifierOptions {
  client: WebClient;
  /**
   * The client for new messages: it must not retry by itself, since a retry after a lost answer
   * posts twice. A failed post is retried by the outbox, after looking for the message first.
   */
  poster: WebClient;
  store: Store;
  config: Config;
  log: Logger;
  postsPerSecond: number;
  identities: SlackIdentities;
  clock?: { now(): number };
  /** Where artifact contents are read from (default: local files, SQLite's way). */
  contents?: ArtifactReader;
  /**
   * Whether this replica may still post (the chat courier's term): checked right before each new
   * message or upload, after the pacer's wait, so a courier that lost its term posts nothing more.
   */
  mayPost?: () => boolean;
}

export class SlackNotifier {
  private readonly pacer: ChannelPacer;
  private readonly images: SlackCardImages;
  private readonly contents: ArtifactReader;
  /** Mentions, direct messages and Home tabs (see reach.ts). */
  readonly reach: SlackReach;

  constructor(private readonly o: SlackNotifierOptions) {
    this.pacer = new ChannelPacer(o.postsPerSecond);
    this.contents = o.contents ?? localArtifacts;
    this.images = new SlackCardImages({ store: o.store, log: o.log, pending: PENDING, contents: this.contents });
    this.reach = new SlackReach({
      client: o.client, store: o.store, config: o.config, log: o.log, identities: o.identities,
      postOnce: (job, key, channel, threadTs, message) => this.postOnce(job, key, channel, threadTs, message),
      gateMessage: async (agg, gate) => this.gateMessage(agg, gate, await o.store.artifacts.current(agg.job.id)),
      now: () => (o.clock ?? Date).now(),
    });
  }

  /** Gate messages and notices of `rows`, in order; the root is posted first if it is missing. */
  async deliver(jobId: number, rows: OutboxRow[]): Promise<Delivered> {
    const { store } = this.o;
    const agg = await store.jobs.load(jobId);
    if (!agg) return {};
    try {
      const { root, posted } = await this.ensureRoot(agg);
      const artifacts = await store.artifacts.current(jobId);
      await deliverBatch(rows, {
        gate: (key, at) => this.upsertGate(agg, artifacts, root, key, at),
        notice: (row) => this.postNotice(agg, artifacts, root, row),
        ping: (row) => this.reach.ping(agg, root, row),
      });
      return { statusPosted: posted };
    } catch (err) {
      throw classify(err);
    }
  }

  /** Edits the root message to show the job as it is now. */
  async editStatus(jobId: number): Promise<void> {
    const agg = await this.o.store.jobs.load(jobId);
    if (!agg) return;
    try {
      const { root, posted } = await this.ensureRoot(agg);
      if (!posted) await this.o.client.chat.update({ channel: root.channel, ts: root.messageId, ...(await this.status(agg)) });
    } catch (err) {
      throw classify(err);
    }
  }

  private async status(loaded: JobAggregate) {
    // Read again: the batch may have waited on the network, and the queue moves meanwhile.
    const agg = (await this.o.store.jobs.load(loaded.job.id)) ?? loaded;
    const queue = agg.job.state === 'queued' ? await this.o.store.queries.queuePosition(agg.job.id) : null;
    return statusBlocks(withExternalNotes(jobStatusView(agg, queue), await this.o.store.externalRuns.waitingForJob(agg.job.id), Date.now()), { submitterMention: true });
  }

  /** The root message; `posted` when it was posted just now, showing the job as it is. */
  private async ensureRoot(agg: JobAggregate): Promise<{ root: { channel: string; messageId: string }; posted: boolean }> {
    const { store, config } = this.o;
    const existing = (await store.outbox.getRef(TARGET, agg.job.id, 'root'));
    if (existing && existing.messageId !== PENDING) {
      // The brief's upload failed after the root was posted: it is still owed.
      if ((await store.outbox.getRef(TARGET, agg.job.id, 'brief'))?.messageId === PENDING) await this.uploadBrief(agg, existing);
      return { root: existing, posted: false };
    }
    const channel = existing?.channel ?? agg.job.def.channels?.slack ?? config.channels.slack ?? (agg.job.origin.surface === 'slack' ? agg.job.origin.channel : undefined);
    if (!channel) throw new PermanentDeliveryError(`job ${agg.job.id} has no Slack channel: set channels.slack in the config`);
    const message = await this.status(agg);
    const made = await this.postOnce(agg.job.id, 'root', channel, null, message);
    const ref = { channel, messageId: made.ts, threadId: null };
    if (JSON.stringify(message.blocks).includes('full brief in the thread')) await this.uploadBrief(agg, ref);
    // A root found from before a crash may show an older state: it still needs an edit.
    return { root: ref, posted: !made.existed };
  }

  private async upsertGate(agg: JobAggregate, artifacts: Artifact[], root: { channel: string; messageId: string }, key: string, at: { stage: string; round: number }) {
    const gate = agg.gates.find((g) => g.stage === at.stage && g.round === at.round);
    if (!gate) return;
    const card = gateCardView(agg, gate, artifacts);
    const message = await this.gateMessage(agg, gate, artifacts);
    // The thread's card names whom it waits for: posting it is what notifies them (see ping.ts).
    const inThread = cardWithMentions(message, cardReachFor(agg, gate, this.o.config.operators));
    await this.images.sendCard(agg.job.id, card, inThread, async (withImage) => {
      const ref = await this.o.store.outbox.getRef(TARGET, agg.job.id, key);
      if (ref && ref.messageId !== PENDING) {
        await this.o.client.chat.update({ channel: ref.channel, ts: ref.messageId, ...withImage });
        return;
      }
      const posted = await this.postOnce(agg.job.id, key, root.channel, root.messageId, withImage);
      // Found from before a crash: it may show an older state of the gate.
      if (posted.existed) await this.o.client.chat.update({ channel: root.channel, ts: posted.ts, ...withImage });
    });
    // After the card, on every delivery of it, until the .diff is known to be in the thread.
    const diff = await roundDiffFor(this.o.store, this.contents, agg.job.id, gate, this.o.log);
    if (diff) await this.uploadDiff(agg.job.id, diffUploadKey(gate), root, diff);
    // Direct-message copies show the card without its picture (the file is shared in the thread).
    await this.reach.copies(agg, gate, message);
  }

  /** The round's full `.diff` goes into the thread once, under the card (see uploadOnce). */
  private async uploadDiff(job: number, key: string, root: { channel: string; messageId: string }, diff: RoundDiffView) {
    const ref = (await this.o.store.outbox.getRef(TARGET, job, key));
    if (ref && ref.messageId !== PENDING) return;
    const comment = `📄 The full diff of round ${diff.round} since round ${diff.previousRound}.`;
    await this.uploadOnce(job, key, root, comment, [{ content: diff.file.text, filename: diff.file.name, title: diff.file.title }]);
  }

  /** A gate's card, with the round's diff once there is one. */
  private async gateMessage(agg: JobAggregate, gate: Gate, artifacts: Artifact[]) {
    const card = gateCardView(agg, gate, artifacts);
    const diff = await roundDiffFor(this.o.store, this.contents, agg.job.id, gate, this.o.log);
    return gateBlocks(card, { excerpts: await textExcerpts(this.contents, artifacts.filter((a) => card.artifacts.some((c) => c.id === a.id)), 600), ...(diff ? { diff } : {}) });
  }

  private async postNotice(agg: JobAggregate, artifacts: Artifact[], root: { channel: string; messageId: string }, row: OutboxRow) {
    const key = `notice:${row.event.seq}`;
    const ref = (await this.o.store.outbox.getRef(TARGET, agg.job.id, key));
    if (ref && ref.messageId !== PENDING) return;
    const notice = noticeFor(row.event, agg, artifacts);
    if (!notice) return;
    const message = noticeBlocks(notice);
    // Files go up once, with the stage that made them; the closing summary only names them.
    const named = (row.event.type === 'stage.succeeded' ? notice.artifacts : [])
      .map((a) => artifacts.find((f) => f.id === a.id))
      .filter((a): a is Artifact => a !== undefined);
    const files: Artifact[] = [];
    for (const a of named) if (await this.contents.has(a)) files.push(a);
    if (files.length) {
      // Slack's upload reads a file on this host: contents kept elsewhere are copied here first.
      const uploads = await Promise.all(files.map(async (f) => ({ file: await this.contents.localFile(f), filename: f.name.split('/').pop()!, title: fileTitle(f) })));
      // The pictures a gate will show go up with the stage's files (see card-images.ts).
      const pictures = await this.images.forStageFiles(agg, String(row.event.data.stage), files, fileTitle, root);
      // One upload with the notice as its comment: the files and the text arrive as one reply.
      await this.uploadOnce(agg.job.id, key, root, message.text, [...uploads, ...pictures.uploads], pictures.record);
    } else {
      await this.postOnce(agg.job.id, key, root.channel, root.messageId, message);
    }
  }

  /**
   * Posts a message once as far as people can see. The intent is stored before posting and the
   * message carries signoff's metadata (job, key); if the answer was lost or signoff died before
   * storing the ts, the retry finds the message in the channel or thread instead of posting again.
   */
  private async postOnce(job: number, key: string, channel: string, threadTs: string | null, message: { text: string; blocks: unknown[] }): Promise<{ ts: string; existed: boolean }> {
    const { store } = this.o;
    if ((await store.outbox.getRef(TARGET, job, key))?.messageId === PENDING) {
      const found = await this.findPosted(job, key, channel, threadTs);
      if (found) {
        await store.outbox.putRef(TARGET, job, key, { channel, messageId: found, threadId: threadTs });
        return { ts: found, existed: true };
      }
    }
    await store.outbox.putRef(TARGET, job, key, { channel, messageId: PENDING, threadId: threadTs });
    const posted = await this.pacer.run(channel, () => {
      this.fence();
      return this.o.poster.chat.postMessage({
        channel,
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(message as { text: string }),
        unfurl_links: false,
        unfurl_media: false,
        metadata: { event_type: METADATA_TYPE, event_payload: { job, key } },
      });
    });
    await store.outbox.putRef(TARGET, job, key, { channel, messageId: String(posted.ts), threadId: threadTs });
    return { ts: String(posted.ts), existed: false };
  }

  private uploadBrief(agg: JobAggregate, root: { channel: string; messageId: string }) {
    return this.uploadOnce(agg.job.id, 'brief', root, undefined, [{ content: agg.job.brief, filename: 'brief.txt', title: 'Full brief' }]);
  }

  /**
   * Uploads files into the job's thread once as far as people can see. Uploads carry no
   * metadata, so the intent is stored first and, after a lost answer or a crash, the thread is
   * searched for a message sharing files with these titles (unique in the thread) instead.
   */
  private async uploadOnce(
    job: number, key: string, root: { channel: string; messageId: string }, comment: string | undefined,
    uploads: ({ title: string; filename: string } & ({ file: string } | { content: string }))[],
    /** Told the files made (or found), before the upload counts as done. */
    onFiles: (files: UploadedFile[]) => void | Promise<void> = () => undefined,
  ) {
    const { store, client } = this.o;
    const where = { channel: root.channel, threadId: root.messageId };
    if ((await store.outbox.getRef(TARGET, job, key))?.messageId === PENDING) {
      const found = await this.findUpload(root.channel, root.messageId, uploads.map((u) => u.title));
      if (found?.[0]?.id) {
        await onFiles(found);
        return void await store.outbox.putRef(TARGET, job, key, { ...where, messageId: found[0].id });
      }
    }
    await store.outbox.putRef(TARGET, job, key, { ...where, messageId: PENDING });
    this.fence();
    const r = await client.filesUploadV2({ channel_id: root.channel, thread_ts: root.messageId, ...(comment ? { initial_comment: comment } : {}), file_uploads: uploads });
    // filesUploadV2 answers one completion per group of files, each listing its files.
    const made = ((r as { files?: { files?: UploadedFile[] }[] }).files ?? []).flatMap((group) => group.files ?? []);
    await onFiles(made);
    await store.outbox.putRef(TARGET, job, key, { ...where, messageId: String(made[0]?.id ?? 'uploaded') });
  }

  /** The files of a thread message sharing files with all these titles. */
  private async findUpload(channel: string, threadTs: string, titles: string[]): Promise<UploadedFile[] | undefined> {
    try {
      const page = await this.o.client.conversations.replies({ channel, ts: threadTs, limit: 200 });
      const hit = page.messages?.find((m) => titles.every((t) => m.files?.some((f) => f.title === t)));
      return hit?.files;
    } catch (err) {
      this.o.log.warn({ err, channel, threadTs }, 'could not look for files uploaded before a crash; uploading them again (they may show twice)');
      return undefined;
    }
  }

  private fence(): void {
    if (this.o.mayPost && !this.o.mayPost()) throw new NotCourierError();
  }

  private async findPosted(job: number, key: string, channel: string, threadTs: string | null): Promise<string | undefined> {
    try {
      const page = threadTs
        ? await this.o.client.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: 200 })
        : await this.o.client.conversations.history({ channel, include_all_metadata: true, limit: 100 });
      const hit = page.messages?.find((m) => {
        const meta = (m as { metadata?: { event_type?: string; event_payload?: Record<string, unknown> } }).metadata;
        return meta?.event_type === METADATA_TYPE && String(meta.event_payload?.job) === String(job) && meta.event_payload?.key === key;
      });
      return hit?.ts;
    } catch (err) {
      this.o.log.warn({ err, job, key }, 'could not look for a message posted before a crash; posting it again (it may show twice)');
      return undefined;
    }
  }

}


function classify(err: unknown): unknown {
  const code = (err as { data?: { error?: string } })?.data?.error;
  if (code && PERMANENT.has(code)) return new PermanentDeliveryError(`Slack answered ${code}`, { cause: err });
  return err;
}

/** A file's title in Slack names the stage (and its run after a redo): unique in its job's thread. */
function fileTitle(f: Artifact): string {
  return `${f.stage}${f.run > 1 ? ` (run ${f.run})` : ''}: ${f.name}`;
}
