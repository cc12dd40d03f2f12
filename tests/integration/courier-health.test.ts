/**
 * /healthz of a replica: who answers, whether it is the chat courier, whether the database
 * answers, how many stage runs it is doing. The PostgreSQL connection goes through a TCP proxy
 * the test cuts: the database turns "unreachable" at once (503), the replica stops being the
 * courier when its lease can no longer be renewed (closing its Discord gateway session), and once
 * the network is back it answers 200, wins the lease again and opens a new gateway session. On
 * SQLite the one process is always the courier.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { replicaId } from '../../src/cluster/replica.js';
import { configFrom, QUICK_PIPELINE, silentLog, tempDir } from '../helpers/fixtures.js';
import { freshDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';
import { APP_ID, FakeDiscord } from '../helpers/fake-discord.js';
import { DISCORD_TOKEN } from '../helpers/discord-harness.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

/** A TCP proxy to `target` whose network can be cut (every connection dropped, new ones refused) and mended. */
async function cuttableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    mend() {
      cut = false;
    },
  };
}

interface Health {
  status: number;
  body: { ok: boolean; replica: string; courier: boolean; database: string; stageRuns: number; surfaces: string[]; version: string };
}

async function health(app: App): Promise<Health> {
  const res = await fetch(`${app.url}/healthz`);
  return { status: res.status, body: (await res.json()) as Health['body'] };
}

async function start(databaseUrl?: string, discord?: FakeDiscord): Promise<App> {
  const app = await startApp({
    config: configFrom(QUICK_PIPELINE), dataDir: tempDir('signoff-health-'), apiToken: 'health-test-token-0123456789',
    log: silentLog, host: '127.0.0.1', port: 0, tickSchedule: false, ...(databaseUrl ? { databaseUrl } : {}),
    ...(discord ? { discord: { token: DISCORD_TOKEN, applicationId: APP_ID, apiUrl: discord.apiUrl } } : {}),
  });
  cleanup.push(() => app.stop());
  return app;
}

describe('/healthz in a cluster', () => {
  it('on PostgreSQL: names the replica and the courier; the database unreachable is a 503; the courier role is lost and won again', async () => {
    const url = new URL(await freshDatabase());
    const proxy = await cuttableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const discord = await FakeDiscord.start();
    cleanup.push(async () => {
      await discord.close();
      expect(discord.internalErrors).toEqual([]);
    });
    const app = await start(url.toString(), discord);
    expect(discord.identifies).toHaveLength(1);
    expect(discord.gatewayReady).toBe(true);

    const up = await health(app);
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ ok: true, replica: replicaId(), courier: true, database: 'ok', stageRuns: 0, version: expect.any(String) });

    proxy.cut();
    const down = await waitFor(async () => {
      const h = await health(app);
      return h.body.database === 'unreachable' && h;
    }, 'the database to be reported unreachable', 5_000);
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    // It cannot renew the lease: it stops being the courier before the lease could run out.
    await waitFor(async () => !(await health(app)).body.courier, 'the replica to stop being the courier', 15_000);
    await waitFor(() => !discord.gatewayReady, 'its Discord gateway session to close');

    proxy.mend();
    const back = await waitFor(async () => {
      const h = await health(app);
      return h.status === 200 && h.body.courier && h;
    }, 'the replica to be healthy and the courier again', 30_000);
    expect(back.body).toMatchObject({ ok: true, database: 'ok', courier: true });
    await waitFor(() => discord.gatewayReady && discord.identifies.length === 2, 'a new Discord gateway session');
  });

  it('on SQLite: the one process is the courier', async () => {
    const app = await start();
    const h = await health(app);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ ok: true, replica: replicaId(), courier: true, database: 'ok', stageRuns: 0 });
  });
});
