/**
 * Lease holders known to be dead without waiting for their leases to run out: a process of this
 * very host (a replica id of the default form `<hostname>-<pid>`, see src/cluster/replica.ts)
 * whose pid no longer exists. A signoff restarted on the same host then re-runs its previous
 * life's stage runs at once instead of after the lease time. Holders of other hosts, or named by
 * SIGNOFF_REPLICA_ID, are left to their leases.
 */
import os from 'node:os';

/** True when `holder` names a process of this host that is gone. */
export function deadOnThisHost(holder: string, hostname: string = os.hostname()): boolean {
  const prefix = `${hostname}-`;
  if (!holder.startsWith(prefix)) return false;
  const pid = holder.slice(prefix.length);
  if (!/^\d+$/.test(pid) || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    // EPERM: it exists (another user's process); only ESRCH says it is gone.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
