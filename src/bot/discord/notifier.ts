/**
 * Delivers a job's outbox rows to Discord through the bot's own REST calls (never interaction
 * tokens, which expire after 15 minutes): a root message with the status embed, edited in
 * place (when the drainer asks, at most every few seconds), and a thread under it for gate
 * messages and notices with their attachments. The ids of the messages made are stored
 * (chat_refs), so retries and restarts edit instead of re-posting.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import type { Artifact, ChatRef, OutboxRow, Store } from '../../store/store.js';
import { deliverBatch } from '../deliver-batch.js';
import { PermanentDeliveryError } from '../outbox-drainer.js';
import { gateCardView } from '../views/gate-card.js';
import { jobStatusView } from '../views/job-status.js';
import { withExternalNotes } from '../views/external-note.js';
import { noticeFor } from '../views/notice.js';
import { textExcerpts } from '../views/excerpts.js';
import { previewName, SvgPreviews } from '../previews/svg-previews.js';
import type { ArtifactReader } from '../../artifacts/contents.js';
import { localArtifacts } from '../../artifacts/local.js';
import { briefIsCut, gateMessage, noticeMessage, safeAttachmentName, statusMessage } from './render.js';
import { diffUploadKey, roundDiffFor } from '../round-diff-for.js';
import type { RoundDiffView } from '../views/round-diff.js';
import { DiscordReach, type DiscordReachOptions } from './reach.js';
import { cardWithMentions } from './reach-render.js';
import { cardReachFor } from '../views/ping.js';
import type { Gate } from '../../orchestrator/types.js';

const TARGET = 'discord';
/** Discord error codes retrying will not fix: unknown channel/message, no access, bad form body. */
const PERMANENT = new Set([10003, 10008, 50001, 50013, 50035]);
const THREAD_EXISTS = 160004;
const MAX_FILES = 10;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

type Message = { id: string };
type Root = ChatRef & { threadId: string };

export class DiscordNotifier {
  private readonly previews: SvgPreviews;
  /** Mentions and direct messages (see reach.ts). */
  private readonly reach: DiscordReach;

  private readonly contents: ArtifactReader;

  constructor(private readonly o: { rest: REST; store: Store; config: Config; log: Logger; roleMembers?: DiscordReachOptions['roleMembers']; contents?: ArtifactReader }) {
    this.contents = o.contents ?? localArtifacts;
    this.previews = new SvgPreviews({ log: o.log, contents: this.contents });
    this.reach = new DiscordReach({ ...o, gateMessage: (agg, gate) => this.dmGateMessage(agg, gate) });
  }

  /** Gate messages and notices of `rows`, in order; the root and its thread are made first if missing. */
  async deliver(jobId: number, rows: OutboxRow[]): Promise<void> {
    const agg = (await this.o.store.jobs.load(jobId));
    if (!agg) return;
    try {
      const root = await this.ensureRoot(agg);
      const artifacts = (await this.o.store.artifacts.current(jobId));
      await deliverBatch(rows, {
        gate: (key, at) => this.upsertGate(agg, artifacts, root, key, at),
        notice: (row) => this.postNotice(agg, artifacts, root, row),
        ping: (row) => this.reach.ping(agg, root.threadId, row),
      });
    } catch (err) {
      throw classify(err);
    }
  }

  /**
   * Edits the root message to show the job as it is now. (A root posted just now is edited too:
   * with a retried post, the nonce hands back the message of the first try, which may be older.)
   */
  async editStatus(jobId: number): Promise<void> {
    const agg = (await this.o.store.jobs.load(jobId));
    if (!agg) return;
    try {
      const root = await this.ensureRoot(agg);
      await this.o.rest.patch(Routes.channelMessage(root.channel, root.messageId), { body: (await this.status(agg)).message });
    } catch (err) {
      throw classify(err);
    }
  }

  private async status(loaded: JobAggregate) {
    // Read again: the batch may have waited on the network, and the queue moves meanwhile.
    const agg = (await this.o.store.jobs.load(loaded.job.id)) ?? loaded;
    const queue = agg.job.state === 'queued' ? await this.o.store.queries.queuePosition(agg.job.id) : null;
    const view = withExternalNotes(jobStatusView(agg, queue), await this.o.store.externalRuns.waitingForJob(agg.job.id), Date.now());
    return { message: statusMessage(view), cut: briefIsCut(view) };
  }

  private async ensureRoot(agg: JobAggregate): Promise<Root> {
    const { store, config, rest } = this.o;
    const existing = (await store.outbox.getRef(TARGET, agg.job.id, 'root'));
    if (existing?.threadId) return existing as Root;
    const channel = existing?.channel ?? agg.job.def.channels?.discord ?? config.channels.discord ?? (agg.job.origin.surface === 'discord' ? agg.job.origin.channel : undefined);
    if (!channel) throw new PermanentDeliveryError(`job ${agg.job.id} has no Discord channel: set channels.discord in the config`);
    let messageId = existing?.messageId;
    if (!messageId) {
      const { message, cut } = await this.status(agg);
      const files = cut ? [{ name: 'brief.txt', data: Buffer.from(agg.job.brief, 'utf8') }] : [];
      const posted = (await rest.post(Routes.channelMessages(channel), { body: { ...message, ...nonce(agg.job.id, 'root') }, files })) as Message;
      messageId = posted.id;
      // Stored before the thread exists, so a failure in between never posts a second root.
      await store.outbox.putRef(TARGET, agg.job.id, 'root', { channel, messageId, threadId: null });
    }
    let threadId: string;
    try {
      const thread = (await rest.post(Routes.threads(channel, messageId), {
        body: { name: `Job ${agg.job.id} · ${agg.job.pipeline}`.slice(0, 100), auto_archive_duration: 10080 },
      })) as Message;
      threadId = thread.id;
    } catch (err) {
      // The thread exists already (an earlier answer was lost): a thread started from a message
      // has that message's id.
      if (!(err instanceof DiscordAPIError && err.code === THREAD_EXISTS)) throw err;
      threadId = messageId;
    }
    const root = { channel, messageId, threadId };
    await store.outbox.putRef(TARGET, agg.job.id, 'root', root);
    return root;
  }

  private async upsertGate(agg: JobAggregate, artifacts: Artifact[], root: Root, key: string, at: { stage: string; round: number }) {
    const gate = agg.gates.find((g) => g.stage === at.stage && g.round === at.round);
    if (!gate) return;
    const card = gateCardView(agg, gate, artifacts);
    const reviewed = artifacts.filter((a) => card.artifacts.some((c) => c.id === a.id));
    const diff = await roundDiffFor(this.o.store, this.contents, agg.job.id, gate, this.o.log);
    const ref = (await this.o.store.outbox.getRef(TARGET, agg.job.id, key));
    // The card's picture is attached when the card is posted; an edit keeps the attachment.
    const image = await this.cardImage(reviewed, ref === undefined);
    const imageName = image ? safeAttachmentName(image.name) : undefined;
    // The thread's card names whom it waits for: posting it is what notifies them (see ping.ts).
    const reach = cardReachFor(agg, gate, this.o.config.operators);
    const message = cardWithMentions(gateMessage(card, { excerpts: await textExcerpts(this.contents, reviewed, 900), ...(imageName ? { imageName } : {}), ...(diff ? { diff } : {}) }), reach, this.o.roleMembers !== undefined);
    if (ref) {
      await this.o.rest.patch(Routes.channelMessage(ref.channel, ref.messageId), { body: message });
    } else {
      const files = image && imageName ? [{ name: imageName, data: await image.data() }] : [];
      const posted = (await this.o.rest.post(Routes.channelMessages(root.threadId), { body: { ...message, ...nonce(agg.job.id, key) }, files })) as Message;
      await this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: root.threadId, messageId: posted.id, threadId: root.threadId });
    }
    if (diff) await this.postDiff(agg.job.id, diffUploadKey(gate), root, diff);
    await this.reach.copies(agg, gate);
  }

  /** The round's full `.diff` goes into the thread once, under the card; the nonce makes a retried post return the first. */
  private async postDiff(job: number, key: string, root: Root, diff: RoundDiffView) {
    if ((await this.o.store.outbox.getRef(TARGET, job, key))) return;
    const body = { content: `📄 The full diff of round ${diff.round} since round ${diff.previousRound}.`, allowed_mentions: { parse: [] }, ...nonce(job, key) };
    const files = [{ name: safeAttachmentName(diff.file.name), data: Buffer.from(diff.file.text, 'utf8') }];
    const posted = (await this.o.rest.post(Routes.channelMessages(root.threadId), { body, files })) as Message;
    await this.o.store.outbox.putRef(TARGET, job, key, { channel: root.threadId, messageId: posted.id, threadId: root.threadId });
  }

  /**
   * The picture for a gate card: the first reviewed PNG/JPEG/GIF/WebP as it is, else a PNG drawn
   * from the first reviewed SVG (Discord shows no SVG). `draw` is false for an edit, which only
   * needs the name the card was posted with: a preview found then is the file posted before.
   */
  private async cardImage(reviewed: Artifact[], draw: boolean): Promise<{ name: string; data(): Promise<Buffer> } | undefined> {
    const raster = reviewed.find((a) => /^image\/(png|jpeg|gif|webp)$/.test(a.mediaType));
    if (raster) return { name: raster.name.split('/').pop()!, data: () => this.contents.read(raster) };
    const svg = reviewed.find((a) => SvgPreviews.wants(a));
    if (!svg) return undefined;
    const file = this.contents.previewPath(svg);
    if (!draw) return fs.existsSync(file) ? { name: previewName(svg), data: () => fs.promises.readFile(file) } : undefined;
    const preview = await this.previews.of(svg);
    return preview ? { name: preview.name, data: () => fs.promises.readFile(preview.path) } : undefined;
  }

  /** The card for a direct message: as in the thread, without the attached image. */
  private async dmGateMessage(agg: JobAggregate, gate: Gate) {
    const artifacts = (await this.o.store.artifacts.current(agg.job.id));
    const card = gateCardView(agg, gate, artifacts);
    const diff = await roundDiffFor(this.o.store, this.contents, agg.job.id, gate, this.o.log);
    return gateMessage(card, { excerpts: await textExcerpts(this.contents, artifacts.filter((a) => card.artifacts.some((c) => c.id === a.id)), 900), ...(diff ? { diff } : {}) });
  }

  private async postNotice(agg: JobAggregate, artifacts: Artifact[], root: Root, row: OutboxRow) {
    const key = `notice:${row.event.seq}`;
    if ((await this.o.store.outbox.getRef(TARGET, agg.job.id, key))) return;
    const notice = noticeFor(row.event, agg, artifacts);
    if (!notice) return;
    // Files go up once, with the stage that made them; the closing summary only names them.
    const named = (row.event.type === 'stage.succeeded' ? notice.artifacts : [])
      .map((a) => artifacts.find((f) => f.id === a.id))
      .filter((a): a is Artifact => a !== undefined && a.size <= MAX_FILE_BYTES);
    const files: { name: string; data: Buffer }[] = [];
    for (const a of named) {
      if (files.length >= MAX_FILES) break;
      if (await this.contents.has(a)) files.push({ name: safeAttachmentName(a.name.split('/').pop()!), data: await this.contents.read(a) });
    }
    const posted = (await this.o.rest.post(Routes.channelMessages(root.threadId), { body: { ...noticeMessage(notice), ...nonce(agg.job.id, key) }, files })) as Message;
    await this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: root.threadId, messageId: posted.id, threadId: root.threadId });
  }
}

function classify(err: unknown): unknown {
  if (err instanceof DiscordAPIError && typeof err.code === 'number' && PERMANENT.has(err.code))
    return new PermanentDeliveryError(`Discord answered ${err.code}: ${err.message}`, { cause: err });
  return err;
}

/**
 * A fixed nonce per job and message, enforced: if an answer is lost and the post is retried,
 * Discord returns the message it already made instead of posting it twice.
 */
function nonce(job: number, key: string): { nonce: string; enforce_nonce: true } {
  return { nonce: createHash('sha256').update(`signoff:${job}:${key}`).digest('base64url').slice(0, 25), enforce_nonce: true };
}
