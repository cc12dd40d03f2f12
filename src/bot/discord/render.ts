/**
 * The Discord renderer: neutral views (plain text data) in, message payloads out (content, one
 * embed, button rows, the Reject modal). Pure, so every message the bot could send is testable
 * as a value.
 *
 * Two rules hold everywhere. Text a person typed is escaped for Discord markdown and its mention
 * syntax is broken with a zero-width space, and every payload carries `allowed_mentions:
 * { parse: [] }`, so a brief saying `@everyone` pings no one twice over (the escape also keeps it
 * from *looking* like a mention). And every Discord limit is applied here, where the text is
 * built, so a 100 KB brief or a 60-stage pipeline still yields a message Discord accepts.
 */
import {
  ActionRowBuilder, ButtonBuilder, ButtonStyle, EmbedBuilder, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle,
  embedLength, escapeMarkdown, time, type APIActionRowComponent, type APIButtonComponent, type APIEmbed, type APIModalInteractionResponseCallbackData,
} from 'discord.js';
import { formatDuration } from '../../config/duration.js';
import type { GateCardView, JobStatusView, NoticeView, PersonRef, StageLine, Tone } from '../views/types.js';
import type { RoundDiffView } from '../views/round-diff.js';
import { diffField } from './diff-render.js';
import { noteButton } from './note-modal.js';

/** Discord's message limits (see platform-notes.md, "Platform limits"). */
export const DISCORD_LIMITS = { content: 2000, title: 256, description: 4096, fields: 25, fieldName: 256, fieldValue: 1024, embedTotal: 6000, customId: 100 } as const;
const L = DISCORD_LIMITS;

/** Embed colours per tone: grey, blue, amber, green, red, dark grey. */
export const TONE_COLOURS: Readonly<Record<Tone, number>> = {
  neutral: 0x95a5a6, active: 0x3498db, waiting: 0xf1a208, good: 0x2ecc71, bad: 0xe74c3c, muted: 0x4f545c,
};

/** Mentions are never parsed from what we send: user text may contain them. */
export type NoMentions = { parse: [] };
/** A message for `channel.send`/`message.edit`/interaction replies. */
export interface DiscordMessage { content: string; embeds: APIEmbed[]; allowed_mentions: NoMentions }
/** A gate message; `components` is `[]` once decided, so an edit removes the buttons. */
export interface DiscordGateMessage extends DiscordMessage { components: APIActionRowComponent<APIButtonComponent>[] }
/** A plain reply (notices, ephemeral answers). */
export interface DiscordText { content: string; allowed_mentions: NoMentions }
/** The gate round a button or modal names. */
export interface GateRef { job: number; stage: string; round: number }
export type GateAction = 'approve' | 'reject' | 'hold';

const noMentions = (): NoMentions => ({ parse: [] });
/** Characters of the escaped brief shown on the status message; the rest goes in an attachment. */
export const STATUS_BRIEF_CHARS = 1500;
const MAX_STAGE_FIELDS = 3;
const MAX_EXCERPTS = 5;
/** Room kept in a chunk for the closing "… and N more" line. */
const MORE_ROOM = 40;

/**
 * `text` at most `max` UTF-16 code units long (Discord counts no more than that), ending in "…"
 * when cut. It never splits a surrogate pair, and never leaves an odd run of backslashes before
 * the marker, where an escape like `\*` cut in half would escape the "…" instead.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 1) return '';
  let end = max - 1;
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1] ?? '')) end -= 1;
  let kept = text.slice(0, end).trimEnd();
  if ((/\\+$/.exec(kept)?.[0].length ?? 0) % 2 === 1) kept = kept.slice(0, -1);
  return `${kept}…`;
}

/** Breaks `@everyone`, `@here` and `<@…>`/`<@&…>` with a zero-width space so they render as text. */
function breakMentions(text: string): string {
  return text.replace(/@(?=everyone|here)|(?<=<)@/gi, '@\u200b');
}

/**
 * User text made inert for Discord markdown: discord.js escapes emphasis, code, spoilers,
 * headings, lists and masked links (and backslashes first); block quotes and `-#` subtext are
 * escaped here; mentions are broken (see {@link breakMentions}). discord.js's italic escape takes
 * time growing with the square of the text's length (12 s for 100 KB), so cut long text first.
 */
export function discordEscape(text: string): string {
  const md = escapeMarkdown(text, { heading: true, bulletedList: true, numberedList: true, maskedLink: true });
  return breakMentions(md.replace(/^(\s*)(>|-#)/gm, '$1\\$2'));
}

/**
 * User text escaped and cut to `max`. The raw text is cut before escaping, which bounds the
 * escaper's work and escapes exactly what is shown; escaping lengthens text, so cut once more.
 */
const esc = (text: string, max: number) => cutText(discordEscape(cutText(text, max)), max);

/** Text for inside a code block, cut to `max`: a zero-width space after every backtick keeps it from closing the block. */
const codeText = (text: string, max: number) => cutText(breakMentions(cutText(text, max).replace(/`/g, '`\u200b')), max);

/** A code block of at most `max` characters; markdown inside it is shown as typed. */
const codeBlock = (text: string, max: number) => `\`\`\`\n${codeText(text, max - 8) || ' '}\n\`\`\``;

/** A Discord timestamp (`<t:UNIX:R>` relative, `<t:UNIX:f>` full date), shown in the reader's timezone. */
const stamp = (ms: number, style: 'R' | 'f') => time(Math.floor(ms / 1000), style);

/** Last line of defence: drops fields from the end, then cuts the description, until the embed fits. */
function fitEmbed(embed: APIEmbed): APIEmbed {
  const fitted: APIEmbed = { ...embed, description: cutText(embed.description ?? '', L.description), fields: (embed.fields ?? []).slice(0, L.fields) };
  while (embedLength(fitted) > L.embedTotal && fitted.fields?.length) fitted.fields.pop();
  const over = embedLength(fitted) - L.embedTotal;
  if (over > 0 && fitted.description) fitted.description = cutText(fitted.description, fitted.description.length - over);
  // The builder's setters check each part's limit, so a slip in this file fails in tests, not at Discord.
  const builder = new EmbedBuilder().setColor(fitted.color ?? null).setFields(fitted.fields ?? []);
  if (fitted.title) builder.setTitle(fitted.title);
  if (fitted.description) builder.setDescription(fitted.description);
  if (fitted.image) builder.setImage(fitted.image.url);
  return builder.toJSON();
}

/**
 * Joins lines into at most `maxChunks` chunks of at most `chunkMax` characters, using at most
 * `budget` characters in all; what does not fit becomes `more(n)`. Cutting at line ends keeps
 * markup and timestamps whole.
 */
function chunkLines(lines: string[], chunkMax: number, maxChunks: number, budget: number, more: (n: number) => string): string[] {
  const chunks: string[] = [];
  let used = 0;
  let current = '';
  for (const [i, line] of lines.entries()) {
    const joined = current ? `${current}\n${line}` : line;
    if (joined.length <= chunkMax - MORE_ROOM && used + joined.length <= budget - MORE_ROOM) current = joined;
    else if (current && chunks.length + 1 < maxChunks && used + current.length + line.length <= budget - MORE_ROOM) {
      chunks.push(current);
      used += current.length;
      current = line;
    } else return [...chunks, current ? `${current}\n${more(lines.length - i)}` : more(lines.length - i)];
  }
  return current ? [...chunks, current] : chunks;
}

/** A Discord user is shown as a mention (inert in embeds, but rendered as their name); others by name. */
function person(p: PersonRef): string {
  return p.platform === 'discord' && /^\d{17,20}$/.test(p.user) ? `<@${p.user}>` : esc(p.user, 100);
}

/** `▰▰▰▱▱▱ 3 of 6 stages (50%)`; long pipelines are scaled to 20 segments. */
function progressBar({ done, total, percent }: JobStatusView['progress']): string {
  const width = Math.min(total, 20);
  const filled = total <= 20 ? done : Math.round((done / total) * width);
  return `${'▰'.repeat(filled)}${'▱'.repeat(width - filled)} ${done} of ${total} stage${total === 1 ? '' : 's'} (${percent}%)`;
}

function stageLine(s: StageLine): string {
  const took = s.durationMs !== null ? ` · ${formatDuration(s.durationMs)}` : '';
  return `${s.icon} **${esc(s.name, 80)}**${took}${s.note ? ` — ${esc(s.note, 150)}` : ''}`;
}

/** Whether the status message shows only the start of the brief (the adapter then attaches it whole). */
export function briefIsCut(view: JobStatusView): boolean {
  return view.brief.length > STATUS_BRIEF_CHARS || discordEscape(view.brief).length > STATUS_BRIEF_CHARS;
}

/** The job's root message: state, submitter, brief, stage lines, progress, queue position, error. */
export function statusMessage(view: JobStatusView): DiscordMessage {
  const description = [`**${esc(view.stateLabel, 300)}** · submitted by ${person(view.submitter)}`];
  if (view.brief) description.push('', '**Brief**', esc(view.brief, STATUS_BRIEF_CHARS), ...(briefIsCut(view) ? ['*(full brief attached)*'] : []));
  description.push('', ...(view.progress.total > 0 ? [progressBar(view.progress)] : []));
  if (view.queuePosition !== null) description.push(`Position ${view.queuePosition} in the queue`);
  description.push(`Submitted ${stamp(view.createdAt, 'f')}`);
  const embed: APIEmbed = { title: esc(`${view.icon} ${view.title}`, L.title), color: TONE_COLOURS[view.tone], description: description.join('\n'), fields: [] };
  const error = view.error ? { name: 'Error', value: esc(view.error, L.fieldValue) } : null;
  // Stage lines get what the other parts leave of the 6000-character total.
  const budget = L.embedTotal - embedLength(embed) - (error ? error.name.length + error.value.length : 0) - MAX_STAGE_FIELDS * 20;
  const chunks = chunkLines(view.stages.map(stageLine), L.fieldValue, MAX_STAGE_FIELDS, budget, (n) => `… and ${n} more stage${n === 1 ? '' : 's'}`);
  embed.fields = chunks.map((value, i) => ({ name: i === 0 ? 'Stages' : 'Stages (cont.)', value }));
  if (error) embed.fields.push(error);
  return { content: esc(`${view.icon} ${view.title}: ${view.stateLabel}`, L.content), embeds: [fitEmbed(embed)], allowed_mentions: noMentions() };
}

/** Stage ids as the configuration schema allows them. */
const STAGE_RE = /^[a-z][a-z0-9_-]{0,39}$/;
/** Job ids are at most 15 digits (as in the command grammar), rounds at most this; larger ones were not made by us. */
const MAX_ROUND = 1_000_000;
const ACTION_CODE: Record<GateAction, string> = { approve: 'a', reject: 'r', hold: 'h' };
const CODE_ACTION: Readonly<Record<string, GateAction>> = { a: 'approve', r: 'reject', h: 'hold' };

/** `prefix:job:stage:round` read strictly; the id comes back from the client and may be forged. */
export function parseRef(id: unknown, prefix: RegExp): { code: string; ref: GateRef } | undefined {
  if (typeof id !== 'string' || id.length > L.customId) return undefined;
  const m = new RegExp(`^${prefix.source}:([1-9]\\d{0,14}):([^:]+):([1-9]\\d{0,6})$`).exec(id);
  if (!m) return undefined;
  const [, code = '', job, stage = '', round] = m;
  const ref = { job: Number(job), stage, round: Number(round) };
  return STAGE_RE.test(stage) && Number.isSafeInteger(ref.job) && ref.round <= MAX_ROUND ? { code, ref } : undefined;
}

/** A gate button's custom id, `sg:<a|r|h>:<job>:<stage>:<round>`: which decision, on which round. */
export function gateCustomId(action: GateAction, card: Pick<GateCardView, 'jobId' | 'stage' | 'round'>): string {
  const id = `sg:${ACTION_CODE[action]}:${card.jobId}:${card.stage}:${card.round}`;
  if (!parseRef(id, /sg:([arh])/)) throw new Error(`signoff: gate custom id ${JSON.stringify(id.slice(0, 120))} is not valid; job, stage or round is out of range`);
  return id;
}

/** Reads a gate button's custom id back; anything not exactly as {@link gateCustomId} writes it is refused. */
export function parseGateCustomId(id: string): ({ action: GateAction } & GateRef) | undefined {
  const parsed = parseRef(id, /sg:([arh])/);
  const action = parsed && CODE_ACTION[parsed.code];
  return parsed && action ? { action, ...parsed.ref } : undefined;
}

const BUTTONS: Record<GateAction, [label: string, style: ButtonStyle]> = { approve: ['Approve', ButtonStyle.Success], reject: ['Reject', ButtonStyle.Danger], hold: ['Hold', ButtonStyle.Secondary] };

/** Attachment names usable in `attachment://…`: Discord allows letters, digits, `_`, `-` and `.`. */
export function safeAttachmentName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(-100) || 'file';
}

/**
 * The gate card: what is reviewed (with text excerpts and an attached image when given), who may
 * decide, the tally, the deadline, and Approve / Reject / Hold while the gate is open. Once
 * decided, `components` is empty and the outcome is shown, so an edited card cannot be clicked.
 * `imageName` is passed through {@link safeAttachmentName}; upload the file under that name.
 */
export function gateMessage(card: GateCardView, opts: { excerpts?: { name: string; text: string }[]; imageName?: string; diff?: RoundDiffView } = {}): DiscordGateMessage {
  const { count, needed, names } = card.approvals;
  const d = card.deadline;
  // Paragraphs: what is reviewed, who decides and by when, and the outcome once there is one.
  const paragraphs = [
    [esc(card.text, 1200), card.redoReason ? `**Redo asked for:** ${esc(card.redoReason, 600)}` : ''],
    [
      card.approvers.length ? `Approvers: ${esc(card.approvers.join(', '), 300)}` : '',
      `Approvals: ${count} of ${needed}${names.length ? ` (${esc(names.join(', '), 300)})` : ''}`,
      d?.kind === 'auto_approve' ? `⏳ This gate auto-approves ${stamp(d.at, 'R')} unless someone decides or holds it.` : '',
      d?.kind === 'timeout' ? `⏳ This gate times out ${stamp(d.at, 'R')}${d.onTimeout ? ` (then ${d.onTimeout})` : ''}.` : '',
      card.artifacts.length ? `📎 ${esc(card.artifacts.map((a) => a.name).join(', '), 300)}` : '',
    ],
    card.outcome
      ? [`**${esc(card.outcome.label, 300)}**${card.outcome.at !== null ? ` · ${stamp(card.outcome.at, 'f')}` : ''}`, card.outcome.reason ? `Reason: “${esc(card.outcome.reason, 600)}”` : '']
      : [],
  ];
  const embed: APIEmbed = {
    title: esc(`${card.icon} ${card.title}`, L.title),
    color: TONE_COLOURS[card.tone],
    description: paragraphs.map((p) => p.filter(Boolean).join('\n')).filter(Boolean).join('\n\n'),
    fields: [],
    ...(opts.imageName ? { image: { url: `attachment://${safeAttachmentName(opts.imageName)}` } } : {}),
  };
  // What changed since the rejected round (round 2 and later): see diff-render.ts.
  if (opts.diff) embed.fields!.push(diffField(opts.diff));
  for (const excerpt of (opts.excerpts ?? []).slice(0, MAX_EXCERPTS)) {
    const name = esc(`📄 ${excerpt.name}`, 200);
    const room = Math.min(L.fieldValue, L.embedTotal - embedLength(embed) - name.length);
    if (room < 100) break;
    embed.fields!.push({ name, value: codeBlock(excerpt.text, room) });
  }
  const components = card.actions.length
    ? [new ActionRowBuilder<ButtonBuilder>().addComponents(card.actions.map((action) =>
        new ButtonBuilder().setCustomId(gateCustomId(action, card)).setLabel(BUTTONS[action][0]).setStyle(BUTTONS[action][1]))).toJSON()]
    : [];
  // "Approve with note…" goes right after Approve (see note-modal.ts).
  if (card.actions.includes('approve')) components[0]?.components.splice(1, 0, noteButton({ job: card.jobId, stage: card.stage, round: card.round }));
  const content = esc(`${card.icon} ${card.title}${card.outcome ? ` — ${card.outcome.label}` : ''}`, L.content);
  return { content, embeds: [fitEmbed(embed)], components, allowed_mentions: noMentions() };
}

/** A thread reply: the notice's icon and text, and the names of the files it brings. */
export function noticeMessage(notice: NoticeView): DiscordText {
  const files = notice.artifacts.length ? `\n📎 ${esc(notice.artifacts.map((a) => a.name).join(', '), 500)}` : '';
  return { content: `${notice.icon} ${esc(notice.text, L.content - notice.icon.length - files.length - 1)}${files}`, allowed_mentions: noMentions() };
}

/** Answers of more lines than this (help, lists, audits) go in a code block, which keeps their columns. */
const CODE_BLOCK_LINES = 6;

/** A plain answer (help, refusals, lists, audits) as content; long ones are cut at line ends with a count. */
export function textReply(text: string): DiscordText {
  const lines = (text || ' ').split('\n');
  const block = lines.length > CODE_BLOCK_LINES;
  const max = block ? L.content - 8 : L.content;
  const shown = lines.map((l) => (block ? codeText : esc)(l, max - MORE_ROOM));
  const [body = ' '] = chunkLines(shown, max, 1, max, (n) => `… ${n} more line${n === 1 ? '' : 's'} not shown`);
  return { content: block ? `\`\`\`\n${body}\n\`\`\`` : body, allowed_mentions: noMentions() };
}

/** The Reject dialog for a gate round: one required reason, handed to the stage when it is redone. */
export function rejectModal(ref: GateRef): APIModalInteractionResponseCallbackData {
  const id = `sg:reject:${ref.job}:${ref.stage}:${ref.round}`;
  if (!parseRejectModalId(id)) throw new Error(`signoff: reject modal id ${JSON.stringify(id.slice(0, 120))} is not valid; job, stage or round is out of range`);
  const reason = new TextInputBuilder().setCustomId('reason').setStyle(TextInputStyle.Paragraph).setRequired(true).setMinLength(1).setMaxLength(2000).setPlaceholder('What should change?');
  return new ModalBuilder()
    .setCustomId(id)
    .setTitle(cutText(`Reject ${ref.stage} of job ${ref.job}`, 45))
    .addLabelComponents(new LabelBuilder().setLabel('Reason').setDescription('Handed to the stage when it is redone.').setTextInputComponent(reason))
    .toJSON();
}

/** Reads a Reject dialog's custom id back, as strictly as {@link parseGateCustomId}. */
export function parseRejectModalId(id: string): GateRef | undefined {
  return parseRef(id, /sg:(reject)/)?.ref;
}
