/**
 * Pictures on Slack gate cards. What a gate reviews goes on its card as a picture: a PNG, JPEG or
 * GIF as the stage made it, else its first SVG as a PNG drawn from it (Slack shows no SVG). The pictures are
 * uploaded with the stage's files into the job's thread (a file shared there is one everyone in
 * the thread may see), and the id Slack gives each is kept (chat_refs `preview:<artifact id>`)
 * before the upload counts as done, so a crash or a lost answer finds them with the upload.
 * The card then shows the first reviewed picture in an image block (`slack_file: { id }`).
 */
import type { Logger } from 'pino';
import type { JobAggregate } from '../../orchestrator/types.js';
import type { Artifact, Store } from '../../store/store.js';
import { SvgPreviews } from '../previews/svg-previews.js';
import type { ArtifactReader } from '../../artifacts/contents.js';
import type { GateCardView } from '../views/types.js';
import type { SlackMessage } from './blocks.js';
import { withCardImage, type CardImage } from './preview-block.js';

const TARGET = 'slack';
/** Images Slack's image block shows. */
const CARD_IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif']);

/** A file Slack made from an upload (files.completeUploadExternal, conversations.replies). */
export type UploadedFile = { id?: string; title?: string };
/** One file of a filesUploadV2 call. */
export type FileUpload = { file: string; filename: string; title: string };

/** The chat_refs key holding the Slack file id of the picture shown for an artifact on its gate card. */
const previewKey = (artifactId: number) => `preview:${artifactId}`;

export class SlackCardImages {
  private readonly previews: SvgPreviews;

  constructor(private readonly o: { store: Store; log: Logger; pending: string; contents: ArtifactReader }) {
    this.previews = new SvgPreviews({ log: o.log, contents: o.contents });
  }

  /**
   * The previews to upload with a stage's files (none unless the stage has a gate), and `record`,
   * to call with the files Slack made (or that were found again) before the upload counts as done.
   */
  async forStageFiles(agg: JobAggregate, stage: string, files: Artifact[], titleOf: (a: Artifact) => string, where: { channel: string; messageId: string }) {
    const uploads: FileUpload[] = [];
    const shown = new Map<string, number>();
    if (agg.job.def.stages.some((s) => s.id === stage && s.gate)) {
      for (const f of files) if (CARD_IMAGE_TYPES.has(f.mediaType)) shown.set(titleOf(f), f.id);
      // As on Discord: a picture the stage made comes first; else the first SVG is drawn (only
      // one picture goes on a card, so only one is drawn).
      const svg = shown.size ? undefined : files.find((f) => SvgPreviews.wants(f));
      const preview = svg && (await this.previews.of(svg));
      if (svg && preview) {
        const title = `${titleOf(svg)} (preview)`;
        uploads.push({ file: preview.path, filename: preview.name, title });
        shown.set(title, svg.id);
      }
    }
    const record = async (made: UploadedFile[]) => {
      for (const file of made) {
        const artifact = file.title === undefined ? undefined : shown.get(file.title);
        if (artifact !== undefined && file.id) await this.o.store.outbox.putRef(TARGET, agg.job.id, previewKey(artifact), { channel: where.channel, messageId: file.id, threadId: where.messageId });
      }
    };
    return { uploads, record };
  }

  /**
   * Sends a gate card with the first reviewed picture Slack has. If Slack refuses the card with
   * its image block, the card goes without it: a picture must not cost the card its buttons.
   */
  async sendCard(job: number, card: GateCardView, plain: SlackMessage, send: (message: SlackMessage) => Promise<void>): Promise<void> {
    const image = await this.imageFor(job, card.artifacts);
    if (!image) return send(plain);
    try {
      await send(withCardImage(plain, card, image));
    } catch (err) {
      if ((err as { data?: { error?: string } })?.data?.error !== 'invalid_blocks') throw err;
      this.o.log.warn({ err, jobId: job, stage: card.stage, file: image.fileId }, 'Slack refused the gate card with its image; sending it without');
      await send(plain);
    }
  }

  private async imageFor(job: number, reviewed: GateCardView['artifacts']): Promise<CardImage | undefined> {
    for (const a of reviewed) {
      const ref = await this.o.store.outbox.getRef(TARGET, job, previewKey(a.id));
      if (ref && ref.messageId !== this.o.pending) return { fileId: ref.messageId, name: a.name };
    }
    return undefined;
  }
}
