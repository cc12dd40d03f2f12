/**
 * Raw Discord interaction payloads (what the HTTP interactions endpoint receives, the same JSON
 * the gateway's INTERACTION_CREATE carries) read into the {@link InteractionInput} the shared
 * flow takes. Pure, and strict: every field is checked, since the body is only as trustworthy
 * as its signature says and the flow must never throw on a shape it did not expect.
 */
import type { Identity } from '../../orchestrator/policy.js';
import type { OptionReader } from './commands.js';
import type { InteractionInput } from './interaction-flow.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Discord's interaction types. */
const PING = 1;
const APPLICATION_COMMAND = 2;
const MESSAGE_COMPONENT = 3;
const AUTOCOMPLETE = 4;
const MODAL_SUBMIT = 5;
const SUB_COMMAND = 1;

/** The person behind an interaction: a guild member (with roles) or, in a DM, the user. */
export function identityFromPayload(payload: Json): Identity | undefined {
  const member = isObject(payload.member) ? payload.member : undefined;
  const user = isObject(member?.user) ? member.user : isObject(payload.user) ? payload.user : undefined;
  const id = str(user?.id);
  if (!user || !id || !/^\d{1,25}$/.test(id)) return undefined;
  const roles = list(member?.roles).filter((r): r is string => typeof r === 'string');
  return { platform: 'discord', user: id, display: str(user.global_name) ?? str(user.username) ?? id, roles };
}

/** A slash command's subcommand and options (`/signoff submit pipeline:… brief:…`). */
function commandOptions(data: Json): { subcommand: string | null; options: Json[] } {
  const first = list(data.options)[0];
  if (isObject(first) && first.type === SUB_COMMAND) return { subcommand: str(first.name) ?? null, options: list(first.options).filter(isObject) };
  return { subcommand: null, options: list(data.options).filter(isObject) };
}

function optionReader(options: Json[]): OptionReader {
  const value = (name: string) => options.find((o) => o.name === name)?.value;
  return {
    string: (name) => str(value(name)) ?? null,
    integer: (name) => {
      const v = value(name);
      return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
    },
  };
}

/** The value of text input `customId` in a modal submission, as action rows or as labels. */
function textInput(components: unknown, customId: string): string | null {
  for (const c of list(components).filter(isObject)) {
    const inner = [...list(c.components), c.component].filter(isObject);
    const hit = inner.find((x) => x.custom_id === customId && typeof x.value === 'string');
    if (hit) return hit.value as string;
  }
  return null;
}

/** The interaction a payload describes; undefined when it is not one (no id, no person). */
export function interactionFromPayload(payload: unknown): InteractionInput | undefined {
  if (!isObject(payload)) return undefined;
  if (payload.type === PING) return { kind: 'ping' };
  const id = str(payload.id);
  const data = isObject(payload.data) ? payload.data : {};
  if (!id || !/^\d{1,25}$/.test(id)) return undefined;
  if (payload.type === AUTOCOMPLETE) {
    const { options } = commandOptions(data);
    const focused = options.find((o) => o.focused === true);
    return { kind: 'autocomplete', focused: { name: str(focused?.name) ?? '', value: String(focused?.value ?? '') }, job: options.find((o) => o.name === 'job')?.value };
  }
  const who = identityFromPayload(payload);
  if (!who) return undefined;
  const channel = str(payload.channel_id) ?? str(isObject(payload.channel) ? payload.channel.id : undefined) ?? null;
  switch (payload.type) {
    case APPLICATION_COMMAND: {
      const { subcommand, options } = commandOptions(data);
      return { kind: 'command', id, who, channel, guild: str(payload.guild_id) ?? null, name: str(data.name) ?? '', subcommand, options: optionReader(options) };
    }
    case MESSAGE_COMPONENT:
      return { kind: 'button', id, who, customId: str(data.custom_id) ?? '' };
    case MODAL_SUBMIT:
      return { kind: 'modal', id, who, customId: str(data.custom_id) ?? '', reason: textInput(data.components, 'reason'), note: textInput(data.components, 'note') };
    default:
      return { kind: 'other', id };
  }
}
