/**
 * Slack mrkdwn helpers: escaping user text, reading escaped slash-command text, cutting text to
 * Block Kit's limits, and Slack's reader-local date tokens. Pure; no Slack calls.
 *
 * Slack parses `<…>` in mrkdwn as links, mentions (`<@U…>`, `<!channel>`) and dates, and `&` as
 * the start of an entity. Escaping those three characters in everything a person typed keeps
 * their text inert; the formatting characters `*_~` and backticks are left as typed, since they
 * can only change how the text looks, never whom it notifies.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const UNESCAPES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>' };

/** `text` with `&`, `<` and `>` as entities, so mentions and links typed by a person stay inert. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/[&<>]/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Reverses Slack's escaping of `&`, `<` and `>` in the text a slash command sends. One pass, so
 * `&amp;lt;` (a person typing `&lt;`) comes back as `&lt;`, not `<`. Mentions and links Slack
 * itself formatted (`<@U…|name>`) are left as they are.
 */
export function unescapeSlackText(text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (_, name: string) => UNESCAPES[name] ?? '');
}

/** A text cut to a limit, and whether anything was cut. */
export interface Cut {
  text: string;
  cut: boolean;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * `text` at most `max` UTF-16 code units long (Slack counts characters; code units are never
 * fewer, so this is the safe side), ending in "…" when cut. Never splits a surrogate pair, so an
 * emoji at the cut is dropped whole instead of becoming a broken character.
 */
export function cut(text: string, max: number): Cut {
  if (text.length <= max) return { text, cut: false };
  if (max < 1) return { text: '', cut: text.length > 0 };
  let end = max - 1;
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
  return { text: `${text.slice(0, end).trimEnd()}…`, cut: true };
}

/**
 * Like {@link cut} for text already escaped with {@link escapeMrkdwn}: also drops an entity the
 * cut would split (`&am…`), which Slack would otherwise show as stray characters.
 */
export function cutMrkdwn(escaped: string, max: number): Cut {
  const result = cut(escaped, max);
  if (!result.cut) return result;
  // Every `&` in escaped text starts an entity, so a trailing `&` with no `;` is a split one.
  const kept = result.text.slice(0, -1).replace(/&[a-z]{0,3}$/, '').trimEnd();
  return { text: `${kept}…`, cut: true };
}

/** Escapes user text for mrkdwn, then cuts it to `max` characters without splitting an entity. */
export function escapeCut(text: string, max: number): Cut {
  return cutMrkdwn(escapeMrkdwn(text), max);
}

/** The format used for times on cards: "Jan 1st at 9:00 AM" in the reader's timezone. */
export const DATE_FORMAT = '{date_short_pretty} at {time}';

/**
 * A Slack date token, which every reader sees in their own timezone:
 * `<!date^UNIX^{date_short_pretty} at {time}|fallback>`. The fallback is shown where Slack cannot
 * render the token (notifications, old clients); by default a UTC time, escaped.
 */
export function slackDate(ms: number, format: string = DATE_FORMAT, fallback?: string): string {
  const plain = fallback ?? (Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '');
  if (!Number.isFinite(ms)) return escapeMrkdwn(plain);
  // `|` and `>` would end the token early; our formats have neither, but a caller's fallback might.
  return `<!date^${Math.floor(ms / 1000)}^${format.replace(/[|<>]/g, '')}|${escapeMrkdwn(plain).replaceAll('|', '¦')}>`;
}
