/**
 * The two Slack modals: the reason for a rejection, and the submit form a bare
 * `/signoff submit` opens. Pure: views to open, and readers that turn a `view_submission` into
 * values or into the `errors` map Slack shows next to each field (`response_action: 'errors'`).
 *
 * Modal input arrives as typed (unlike slash-command text, it is not entity-escaped), so the
 * readers only clean control characters, the same way the command parser does.
 */
import type { types } from '@slack/bolt';
import { sanitize } from '../commands/tokenize.js';
import { cut, escapeMrkdwn } from './mrkdwn.js';

type ModalView = types.ModalView;
type KnownBlock = types.KnownBlock;
type PlainTextOption = types.PlainTextOption;

/** Callback ids the adapter's `app.view` handlers listen for. */
export const MODAL_CALLBACK_IDS = { reject: 'signoff_reject', submit: 'signoff_submit' } as const;

/** Where a rejection came from, carried through the modal in `private_metadata`. */
export interface RejectMeta {
  job: number;
  stage: string;
  round: number;
  channel: string;
  threadTs?: string;
  messageTs?: string;
}

/** A pipeline as the submit form offers it. */
export interface PipelineChoice {
  name: string;
  description: string;
  params: Record<string, { description: string; required: boolean; default?: string }>;
}

/** The part of a submitted view the readers need; Bolt's `ViewOutput` fits it. */
export interface SubmittedView {
  private_metadata?: string;
  state: { values: Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null }>> };
}

/** A reader's answer: the values, or a message per input block for `response_action: 'errors'`. */
export type ModalResult<T> = ({ ok: true } & T) | { ok: false; errors: Record<string, string> };

const LIMITS = { title: 24, label: 2000, hint: 2000, placeholder: 150, optionText: 75, optionValue: 150, options: 100, metadata: 3000, input: 3000 };
const NAME_RE = /^[a-z][a-z0-9_-]{0,39}$/;
const plain = (text: string, max: number) => ({ type: 'plain_text' as const, text: cut(text, max).text, emoji: true });

/** `private_metadata` is capped by Slack; our metadata is a few ids, so overflowing it is a bug. */
function metadata(meta: object): string {
  const json = JSON.stringify(meta);
  if (json.length > LIMITS.metadata) throw new Error(`signoff: modal metadata is ${json.length} characters, over Slack's ${LIMITS.metadata}; pass ids only`);
  return json;
}

function textInput(blockId: string, label: string, opts: { hint?: string; placeholder?: string; optional?: boolean; min?: number; max: number }): KnownBlock {
  return {
    type: 'input',
    block_id: blockId,
    label: plain(label, LIMITS.label),
    ...(opts.hint ? { hint: plain(opts.hint, LIMITS.hint) } : {}),
    optional: opts.optional ?? false,
    element: {
      type: 'plain_text_input',
      action_id: blockId,
      multiline: true,
      ...(opts.min ? { min_length: opts.min } : {}),
      max_length: opts.max,
      ...(opts.placeholder ? { placeholder: plain(opts.placeholder, LIMITS.placeholder) } : {}),
    },
  };
}

/** The Reject dialog: a required reason, which the redone stage is given. */
export function rejectModal(meta: RejectMeta): ModalView {
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACK_IDS.reject,
    title: plain('Reject', LIMITS.title),
    submit: plain('Reject', LIMITS.title),
    close: plain('Cancel', LIMITS.title),
    private_metadata: metadata(meta),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', verbatim: true, text: `Rejecting *${escapeMrkdwn(meta.stage)}* of job ${meta.job}${meta.round > 1 ? ` (round ${meta.round})` : ''}.` } },
      textInput('reason', 'Reason (handed to the stage when it is redone)', { min: 1, max: 2000, placeholder: 'What should change?' }),
    ],
  };
}

/** One hint line per pipeline with parameters, so people know which keys exist. */
function paramsHint(pipelines: PipelineChoice[]): string {
  const lines = pipelines
    .filter((p) => Object.keys(p.params).length > 0)
    .map((p) => `${p.name}: ${Object.entries(p.params).map(([key, spec]) => `${key}${spec.required ? ' (required)' : ''}${spec.default !== undefined ? ` [default ${spec.default}]` : ''}${spec.description ? ` – ${spec.description}` : ''}`).join('; ')}`);
  return ['One key=value per line.', ...(lines.length ? lines : ['No pipeline takes parameters.'])].join('\n');
}

/**
 * The submit form: a pipeline, a brief, and optional `key=value` parameters. With no pipeline
 * to offer it only says so, since a select needs at least one option.
 */
export function submitModal(pipelines: PipelineChoice[], meta: { channel: string }): ModalView {
  const base = { type: 'modal' as const, callback_id: MODAL_CALLBACK_IDS.submit, title: plain('Submit a job', LIMITS.title), private_metadata: metadata(meta) };
  if (!pipelines.length) {
    return { ...base, close: plain('Close', LIMITS.title), blocks: [{ type: 'section', text: { type: 'plain_text', text: 'There are no pipelines you can submit to.' } }] };
  }
  const options: PlainTextOption[] = pipelines.slice(0, LIMITS.options).map((p) => ({
    text: plain(p.name, LIMITS.optionText),
    value: p.name.slice(0, LIMITS.optionValue),
    ...(p.description ? { description: plain(p.description, LIMITS.optionText) } : {}),
  }));
  const [only] = options;
  return {
    ...base,
    submit: plain('Submit', LIMITS.title),
    close: plain('Cancel', LIMITS.title),
    blocks: [
      {
        type: 'input',
        block_id: 'pipeline',
        label: plain('Pipeline', LIMITS.label),
        element: {
          type: 'static_select',
          action_id: 'pipeline',
          placeholder: plain('Choose a pipeline', LIMITS.placeholder),
          options,
          // With one pipeline there is nothing to choose; preselecting saves a click.
          ...(options.length === 1 && only ? { initial_option: only } : {}),
        },
      },
      textInput('brief', 'Brief', { min: 1, max: LIMITS.input, placeholder: 'What should the job make?' }),
      textInput('params', 'Parameters', { optional: true, max: LIMITS.input, hint: paramsHint(pipelines), placeholder: 'key=value' }),
    ],
  };
}

function inputValue(view: SubmittedView, block: string): string {
  return sanitize(view.state.values[block]?.[block]?.value ?? '').trim();
}

function parseMeta(view: SubmittedView): Record<string, unknown> | undefined {
  try {
    const data: unknown = JSON.parse(view.private_metadata ?? '');
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The reason and the gate it is for, from a submitted Reject dialog. */
export function readReject(view: SubmittedView): ModalResult<{ reason: string; meta: RejectMeta }> {
  const reason = inputValue(view, 'reason');
  if (!reason) return { ok: false, errors: { reason: 'Give a reason, so whoever redoes the stage knows what to change.' } };
  const m = parseMeta(view);
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  const text = (s: unknown): s is string | undefined => s === undefined || typeof s === 'string';
  if (!m || !whole(m.job) || !whole(m.round) || typeof m.stage !== 'string' || !NAME_RE.test(m.stage) || typeof m.channel !== 'string' || !text(m.threadTs) || !text(m.messageTs)) {
    return { ok: false, errors: { reason: 'This dialog no longer knows which gate it is for. Close it and press Reject again.' } };
  }
  const meta: RejectMeta = { job: m.job, stage: m.stage, round: m.round, channel: m.channel };
  if (m.threadTs !== undefined) meta.threadTs = m.threadTs;
  if (m.messageTs !== undefined) meta.messageTs = m.messageTs;
  return { ok: true, reason, meta };
}

/**
 * Reads `key=value` lines: blank lines are skipped, a value may be quoted, keys are lower-cased
 * pipeline-parameter names, and a repeated key is an error rather than a silent overwrite
 * (the same rules as the typed command).
 */
function parseParams(text: string): { params: Record<string, string> } | { error: string } {
  const params: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, Math.max(eq, 0)).trim().toLowerCase();
    if (eq < 1 || !NAME_RE.test(key)) return { error: `Line ${i + 1} (${cut(line, 40).text}) is not key=value; keys are words like version.` };
    if (Object.hasOwn(params, key)) return { error: `The parameter ${key} is given twice; give it once.` };
    params[key] = line.slice(eq + 1).trim().replace(/^"(.*)"$|^'(.*)'$/s, (_, a?: string, b?: string) => a ?? b ?? '');
  }
  return { params };
}

/** The pipeline, brief and parameters from a submitted submit form. */
export function readSubmit(view: SubmittedView): ModalResult<{ pipeline: string; brief: string; params: Record<string, string>; channel: string | null }> {
  const errors: Record<string, string> = {};
  const pipeline = view.state.values.pipeline?.pipeline?.selected_option?.value ?? '';
  if (!NAME_RE.test(pipeline)) errors.pipeline = 'Choose a pipeline.';
  const brief = inputValue(view, 'brief');
  if (!brief) errors.brief = 'Say what the job should make.';
  const parsed = parseParams(inputValue(view, 'params'));
  if ('error' in parsed) errors.params = parsed.error;
  if (Object.keys(errors).length || 'error' in parsed) return { ok: false, errors };
  const channel = parseMeta(view)?.channel;
  return { ok: true, pipeline, brief, params: parsed.params, channel: typeof channel === 'string' ? channel : null };
}
