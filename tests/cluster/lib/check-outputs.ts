/**
 * "Each stage's counted outputs come from one run": with stage runs handed to workers and
 * started again when a worker dies, a late report from a run presumed dead must not add its
 * outputs to the ones that count. Every chaos stage writes exactly one `<stage>.txt`.
 */
import type { CheckResult, DbSnapshot } from '../../chaos/lib/checks.js';

export function checkOutputs(db: DbSnapshot): CheckResult {
  const violations: string[] = [];
  let checked = 0;
  let fromOtherRuns = 0;
  let wrongCount = 0;
  const artifacts = db.artifacts;
  const byStage = new Map<string, { run: number; name: string }[]>();
  for (const a of artifacts) byStage.set(`${a.job_id}:${a.stage}`, [...(byStage.get(`${a.job_id}:${a.stage}`) ?? []), a]);
  for (const s of db.stages) {
    const rows = byStage.get(`${s.job_id}:${s.stage}`) ?? [];
    const stale = rows.filter((a) => a.run !== s.run);
    if (stale.length) {
      fromOtherRuns += stale.length;
      violations.push(`job ${s.job_id}: stage "${s.stage}" (run ${s.run}) has outputs of run(s) ${[...new Set(stale.map((a) => a.run))].join(', ')} too`);
    }
    if (s.state !== 'succeeded') continue;
    checked += 1;
    const own = rows.filter((a) => a.run === s.run && a.name === `${s.stage}.txt`).length;
    if (own !== 1) {
      wrongCount += 1;
      violations.push(`job ${s.job_id}: stage "${s.stage}" succeeded with ${own} copies of ${s.stage}.txt in its run ${s.run} (want 1)`);
    }
  }
  return { violations, figures: { stageOutputsChecked: checked, outputsFromOtherRuns: fromOtherRuns, outputsMissingOrDoubled: wrongCount } };
}
