/**
 * Who this process is in a cluster: every log line, lease, claim and health answer names it.
 * `SIGNOFF_REPLICA_ID` sets it (a pod or container name is a good choice); otherwise it is the
 * host name and process id, unique among live processes and readable in a log.
 */
import os from 'node:os';

/** The id of this process: `SIGNOFF_REPLICA_ID`, else `<hostname>-<pid>`. */
export function replicaId(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.SIGNOFF_REPLICA_ID?.trim();
  return set ? set.slice(0, 100) : `${os.hostname()}-${process.pid}`;
}
