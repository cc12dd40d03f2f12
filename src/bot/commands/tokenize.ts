/**
 * The small tokenizer under the `/signoff` command grammar (see `parse.ts`). It reads one token
 * at a time so the parser can stop at the brief or a reason and keep that text exactly as typed.
 *
 * Rules, chosen for text people type into chat boxes:
 * - whitespace separates tokens;
 * - a quote opens a group only at the start of a token (or right after `key=`), so apostrophes
 *   inside words ("it's", "don’t") are ordinary characters;
 * - a group ends at a matching quote followed by whitespace or the end of the text, so
 *   `'it's fine'` is one group; straight, typographic (“ ” ‘ ’, inserted by Slack and macOS)
 *   and „ quotes all work;
 * - inside a group, a backslash before a quote or a backslash stands for that character;
 *   any other backslash is kept (Windows paths survive).
 */

/** Each opening quote and the characters that may close it. Smart-quote keyboards are not
 * consistent about which curly quote they produce, so either curly form closes a curly group. */
const CLOSERS: ReadonlyMap<string, string> = new Map([
  ['"', '"'],
  ["'", "'"],
  ['\u201C', '\u201D\u201C'], // “ … ” (or “ … “)
  ['\u201D', '\u201D\u201C'], // ” … ”
  ['\u201E', '\u201C\u201D'], // „ … “
  ['\u2018', '\u2019\u2018'], // ‘ … ’
  ['\u2019', '\u2019\u2018'], // ’ … ’
]);

const WHITESPACE = /\s/;

/** Whether `char` opens a quoted group at the start of a token. */
export function isOpeningQuote(char: string | undefined): boolean {
  return char !== undefined && CLOSERS.has(char);
}

/** A token read from the text: its value (quotes removed, escapes resolved) and where it was. */
export interface Token {
  value: string;
  /** Index of the token's first character in the text. */
  start: number;
  /** Index just after the token. */
  end: number;
  quoted: boolean;
}

/** A quote opened at `start` that nothing closes; the parser turns it into a usage error. */
export interface Unclosed {
  unclosed: string;
  start: number;
}

/**
 * Reads the quoted group that opens at `start` (which must hold an opening quote).
 * Returns the unquoted value and the index after the closing quote, or `Unclosed`.
 */
export function readQuoted(text: string, start: number): { value: string; end: number } | Unclosed {
  const open = text[start] ?? '';
  const closers = CLOSERS.get(open) ?? open;
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i] as string;
    const next = text[i + 1];
    if (char === '\\' && next !== undefined && (next === '\\' || CLOSERS.has(next))) {
      value += next;
      i++;
    } else if (closers.includes(char) && (next === undefined || WHITESPACE.test(next))) {
      return { value, end: i + 1 };
    } else {
      value += char;
    }
  }
  return { unclosed: open, start };
}

/**
 * `text` cut to about `max` characters with "…" when longer, for echoing input in messages;
 * never between the halves of a surrogate pair, so the message stays well-formed.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = /[\uD800-\uDBFF]/.test(text[max - 2] ?? '') ? max - 2 : max - 1;
  return `${text.slice(0, cut).trimEnd()}…`;
}

/** Index of the first non-whitespace character at or after `pos` (or `text.length`). */
export function skipSpace(text: string, pos: number): number {
  while (pos < text.length && WHITESPACE.test(text[pos] as string)) pos++;
  return pos;
}

/** Index of the first whitespace character at or after `pos` (or `text.length`). */
export function wordEnd(text: string, pos: number): number {
  while (pos < text.length && !WHITESPACE.test(text[pos] as string)) pos++;
  return pos;
}

/** Reads the next token at or after `pos`; `undefined` at the end of the text. */
export function readToken(text: string, pos: number): Token | Unclosed | undefined {
  const start = skipSpace(text, pos);
  if (start >= text.length) return undefined;
  if (isOpeningQuote(text[start])) {
    const group = readQuoted(text, start);
    return 'unclosed' in group ? group : { value: group.value, start, end: group.end, quoted: true };
  }
  const end = wordEnd(text, start);
  return { value: text.slice(start, end), start, end, quoted: false };
}

// `key=value`: the key is a name like the configuration's (lower-case, at most 40 characters).
const PARAM = /([a-z][a-z0-9_-]{0,39})=/y;

/**
 * Walks a command token by token. `onUnclosed` gets the unclosed quote and an excerpt from it
 * and must throw: the parser turns it into a usage error for the command being parsed.
 */
export class TokenCursor {
  pos = 0;
  constructor(
    readonly text: string,
    private readonly onUnclosed: (quote: string, excerpt: string) => never,
  ) {}

  /** The next token, or `undefined` at the end. */
  next(): Token | undefined {
    const token = readToken(this.text, this.pos);
    if (token && 'unclosed' in token) return this.unclosed(token);
    if (token) this.pos = token.end;
    return token;
  }

  /** A `key=value` parameter at the cursor (the value may be quoted), or `undefined` and the cursor stays. */
  param(): [key: string, value: string] | undefined {
    const start = skipSpace(this.text, this.pos);
    PARAM.lastIndex = start;
    const key = PARAM.exec(this.text)?.[1];
    if (key === undefined) return undefined;
    const at = start + key.length + 1;
    if (isOpeningQuote(this.text[at])) {
      const group = readQuoted(this.text, at);
      if ('unclosed' in group) return this.unclosed(group);
      this.pos = group.end;
      return [key, group.value];
    }
    this.pos = wordEnd(this.text, at);
    return [key, this.text.slice(at, this.pos)];
  }

  /** The rest of the text as free text (see {@link unwrapQuoted}); the cursor moves to the end. */
  rest(): string {
    const text = this.text.slice(this.pos).trim();
    this.pos = this.text.length;
    return unwrapQuoted(text);
  }

  private unclosed({ unclosed, start }: Unclosed): never {
    return this.onUnclosed(unclosed, clip(this.text.slice(start), 30));
  }
}

/**
 * Free text (a brief, a reason) is kept as typed, except that text which is one quoted group
 * as a whole loses its quotes: that is how to write a brief that starts with `key=value`.
 * Anything else, unbalanced quotes included, is returned unchanged.
 */
export function unwrapQuoted(text: string): string {
  if (!isOpeningQuote(text[0])) return text;
  const group = readQuoted(text, 0);
  return 'unclosed' in group || group.end !== text.length ? text : group.value.trim();
}

// C0 controls except \t and \n, DEL and C1 controls: invisible, and unsafe in logs and terminals.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g;
// A high surrogate without a low one after it, or a low one without a high one before it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Removes control characters (keeping newline and tab) and replaces lone surrogates with
 * U+FFFD, so every value the parser returns is well-formed, printable text. `\r` is a control
 * character, so CRLF line ends become LF.
 */
export function sanitize(text: string): string {
  return text.replace(CONTROL, '').replace(LONE_SURROGATE, '\uFFFD');
}
