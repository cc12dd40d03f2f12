/*
 * signoff console: the page's one mutable state and the constants every module shares.
 */

export const state = {
  token: '', users: [], pipelines: [], help: '', actingAs: '',
  offset: 0, // serverNow - Date.now(): countdowns use the server's clock
  lastEventId: 0,
  jobs: new Map(), // jobId -> entry {id, status, gates, timeline, el, refs, itemEls, gateEls, expanded}
  pending: new Map(), // jobId -> updates that arrived while the job was being fetched
  history: [], historyPos: 0, draft: '', // the command box's recall
  source: null, rejecting: null, ticks: 0, stick: true,
  needsYou: [], // open gates the person acting may decide now (needs-you.js)
};
export const FINISHED = new Set(['succeeded', 'failed', 'rejected', 'cancelled']);
export const OPEN_BARS = new Set(['running', 'retry_wait', 'pending', 'held']);

export const serverNow = () => Date.now() + state.offset;
export const gateKeyOf = (g) => `${g.stage}#${g.round}`;
