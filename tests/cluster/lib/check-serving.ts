/**
 * "Artifacts every process can serve": at the end of a cluster run, a sample of the outputs is
 * downloaded from EVERY live replica, whichever process (replica or worker, on whatever host)
 * ran the stage that made them. Each chaos stage writes `<stage>.txt` saying `job <id> <stage>`.
 */
import type { CheckResult } from '../../chaos/lib/checks.js';
import { CHAOS_API_TOKEN } from '../../chaos/lib/child.js';
import type { Cluster } from './cluster.js';

const get = (url: string) => fetch(url, { headers: { authorization: `Bearer ${CHAOS_API_TOKEN}` }, signal: AbortSignal.timeout(10_000) });

/** Downloads every output of up to `sample` finished jobs from each live replica. */
export async function checkArtifactsServed(cluster: Cluster, sample = 10): Promise<CheckResult> {
  const violations: string[] = [];
  let downloads = 0;
  const replicas = cluster.liveReplicas();
  const first = replicas[0];
  if (!first) return { violations: ['no live replica to download artifacts from'], figures: {} };
  const list = (await first.child.api('GET', '/jobs?limit=500')).json.jobs as { id: number; state: string }[];
  const jobs = list.filter((j) => j.state === 'succeeded').slice(0, sample);
  for (const { id } of jobs) {
    const job = (await first.child.api('GET', `/jobs/${id}`)).json as { artifacts: { name: string; stage: string; url: string }[] };
    for (const a of job.artifacts) {
      for (const m of replicas) {
        downloads += 1;
        const res = await get(`${m.child.url}${a.url}`).catch((err: Error) => ({ status: 0, text: async () => err.message }));
        const body = await res.text();
        if (res.status !== 200) violations.push(`job ${id}: ${m.id} answered ${res.status} for ${a.stage}/${a.name}: ${body.slice(0, 200)}`);
        else if (a.name === `${a.stage}.txt` && !body.includes(`job ${id} ${a.stage}`)) violations.push(`job ${id}: ${m.id} served ${a.stage}/${a.name} with other contents: ${body.slice(0, 100)}`);
      }
    }
  }
  return { violations, figures: { artifactDownloads: downloads, artifactDownloadsFailed: violations.length } };
}
