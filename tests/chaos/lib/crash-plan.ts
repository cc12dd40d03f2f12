/**
 * What each job of a crash-chaos run will go through, drawn from the seed: who submits it and
 * who clicks what on each gate, with the answer each click must get.
 */
import { EDITORS, PEOPLE } from './pipeline.js';
import type { Rng } from './prng.js';

/** The outcome a click must have: a vote, a refusal with this code, or (racing a timer) either. */
export type Expect = 'voted' | 'not_authorised' | 'self_approval' | 'already_voted' | 'already_decided' | 'voted_or_decided';

export interface Click {
  user: string;
  action: 'approve' | 'reject';
  expect: Expect;
  /** Send the accepted request again, byte for byte. */
  replay?: boolean;
  /** The reason typed into the reject dialog. */
  reason?: string;
  /** Wait this long after the card appears (races the auto-approval timer). */
  delayMs?: number;
}

/** Who a job submitted through the API is (the API token's identity). */
export const API_SUBMITTER = 'api';

export interface JobPlan {
  n: number;
  brief: string;
  /** A Slack user id, or API_SUBMITTER for a job submitted through the API. */
  submitter: string;
  /** Submitted with `/signoff submit` in Slack (default) or `POST /api/v1/jobs`. */
  via?: 'slack' | 'api';
  /** Clicks on each gate's card, in order. */
  draft: Click[];
  review: Click[];
  publish: Click[];
  /** The state the clicks imply. */
  outcome: 'succeeded' | 'rejected';
}

/**
 * Per job: sometimes an editor approves the optional draft gate just as its timer may fire; on
 * review, maybe an outsider and the submitter try first (refused), then two approvers (one of
 * them maybe twice, and maybe replayed), maybe a late click (refused), or a rejection through
 * the dialog; on publish, maybe a director (refused), then an editor approves or rejects.
 */
export function planJobs(r: Rng, count: number, seed: number, o: { apiEvery?: number } = {}): JobPlan[] {
  const submitters = [PEOPLE.alice, PEOPLE.bob, PEOPLE.sue];
  const outsiders = [PEOPLE.mallory, PEOPLE.vic, PEOPLE.sue];
  return Array.from({ length: count }, (_, i) => {
    // Every apiEvery-th job comes through the API (no Slack submitter: nobody's self-approval to try).
    const viaApi = o.apiEvery !== undefined && o.apiEvery > 0 && i % o.apiEvery === o.apiEvery - 1;
    const submitter = viaApi ? API_SUBMITTER : r.pick(submitters);
    const plan: JobPlan = { n: i + 1, brief: `chaos job ${i + 1} of seed ${seed}`, submitter, ...(viaApi ? { via: 'api' as const } : {}), draft: [], review: [], publish: [], outcome: 'succeeded' };
    const editors = EDITORS.filter((u) => u !== submitter);
    if (r.chance(0.3)) plan.draft.push({ user: r.pick(editors), action: 'approve', expect: 'voted_or_decided', delayMs: r.int(0, 1_400) });

    const reviewers = [...editors, PEOPLE.carol];
    const [a1, a2] = r.sample(reviewers, 2) as [string, string];
    if (r.chance(0.25)) plan.review.push({ user: r.pick(outsiders.filter((u) => u !== submitter)), action: 'approve', expect: 'not_authorised' });
    if (EDITORS.includes(submitter) && r.chance(0.3)) plan.review.push({ user: submitter, action: 'approve', expect: 'self_approval' });
    if (r.chance(0.12)) {
      plan.review.push({ user: a1, action: 'reject', expect: 'voted', reason: `not good enough (job ${i + 1})` });
      if (r.chance(0.5)) plan.review.push({ user: a2, action: 'approve', expect: 'already_decided' });
      plan.outcome = 'rejected';
      return plan;
    }
    plan.review.push({ user: a1, action: 'approve', expect: 'voted', replay: r.chance(0.25) });
    if (r.chance(0.15)) plan.review.push({ user: a1, action: 'approve', expect: 'already_voted' });
    plan.review.push({ user: a2, action: 'approve', expect: 'voted', replay: r.chance(0.15) });
    if (r.chance(0.15)) plan.review.push({ user: r.pick([a1, ...reviewers.filter((u) => u !== a1 && u !== a2)]), action: 'approve', expect: 'already_decided' });

    if (r.chance(0.2)) plan.publish.push({ user: PEOPLE.carol, action: 'approve', expect: 'not_authorised' });
    if (r.chance(0.08)) {
      plan.publish.push({ user: r.pick(editors), action: 'reject', expect: 'voted', reason: `publish later (job ${i + 1})` });
      plan.outcome = 'rejected';
    } else plan.publish.push({ user: r.pick(editors), action: 'approve', expect: 'voted', replay: r.chance(0.2) });
    return plan;
  });
}
