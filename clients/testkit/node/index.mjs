// g-fakecord-kit: g-fakecord for a bot's own test suite. startFakecord() runs the simulator on a free loopback port
// and returns where to point the bot (`api`: the REST base, `ws`: the gateway) and the admin API (docs/fakecord.md):
//
//   import { startFakecord } from 'g-fakecord-kit';
//   const fc = await startFakecord({ args: ['--guilds', '3'], token: 'test-token' });
//   const client = new Client({ intents, rest: { api: fc.api } });   // discord.js
//   await fc.dispatch(guildId, 'MESSAGE_CREATE', { content: '!ping' });
//   const call = await fc.waitForRest((c) => c.method === 'POST' && c.route === '/channels/{channel.id}/messages');
//   fc.stop();
//
// With G in between (a worker reading the stream): const g = await startG(fc); … g.redisPort …; g.stop().
//
// The binary: options.binary, else $G_FAKECORD, else `g-fakecord` on the PATH.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// G in front of a started g-fakecord, for bots and workers that go through it: a private redis-server and `nodes`
// g-actor nodes (docs/node.md) on free ports. With `proxy: true` every node also serves the proxy (docs/proxy.md)
// and a g-cache worker runs (the proxy builds READY from the cache): point an unmodified bot at `g.api` (REST base)
// or `g.ws` (gateway), or at `g.proxies[i]` for node i; `proxyUrl` is the gateway URL the proxies tell bots (a load
// balancer in front of them, say). Resolves once every node answers /healthz; the stream is
// `g:g:events` at 127.0.0.1:redisPort. `g.kill(i, signal)` and `g.restart(i)` stop and start node i (failover tests).
// The binaries: options, else $G_ACTOR, $G_CACHE and $REDIS_SERVER, else the PATH.
export async function startG(fc, { actor = process.env.G_ACTOR ?? 'g-actor', cache = process.env.G_CACHE ?? 'g-cache',
                                   redisServer = process.env.REDIS_SERVER ?? 'redis-server', intents = 1 | 512 | 32768,
                                   nodes = 1, proxy = false, proxyUrl = '', extraConfig = '' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'g-kit-'));
  const redisPort = await freePort();
  const redis = spawn(redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                                    '--dir', dir], { stdio: 'ignore' });
  const members = [];
  for (let i = 0; i < nodes; ++i) {
    const m = { httpPort: await freePort(), proxyPort: proxy ? await freePort() : 0, config: join(dir, `node${i}.toml`), proc: null };
    writeFileSync(m.config, `[node]\nname = "kit${i}"\nlisten = "127.0.0.1:0"\n[discord]\ntoken = "${fc.token}"\n` +
      `rest_url = "${fc.api}"\nintents = ${intents}\n[redis]\nport = ${redisPort}\n[http]\nlisten = "127.0.0.1:${m.httpPort}"\n` +
      `[security]\ncookie = "g-fakecord-kit-cookie"\n` + (proxy ? `[proxy]\nlisten = "127.0.0.1:${m.proxyPort}"\n` + (proxyUrl ? `url = "${proxyUrl}"\n` : '') : '') + extraConfig);
    members.push(m);
  }
  await new Promise((r) => setTimeout(r, 200));  // redis-server binds
  const launch = (m) => { m.proc = spawn(actor, ['--config', m.config], { stdio: ['ignore', 'ignore', 'inherit'] }); };
  const cacheProc = proxy ? spawn(cache, ['--config', members[0].config], { stdio: ['ignore', 'ignore', 'inherit'] }) : null;
  const stop = () => {
    for (const m of members) m.proc?.kill('SIGTERM');
    cacheProc?.kill('SIGTERM');
    redis.kill('SIGTERM');
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500);
  };
  const healthy = async (m) => {
    const until = Date.now() + 30000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${m.httpPort}/healthz`).then((r) => r.ok, () => false);
      if (ok) return;
      if (m.proc.exitCode !== null || Date.now() > until) {
        stop();
        throw new Error(`g-actor did not become healthy (exit code ${m.proc.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const m of members) launch(m);
  for (const m of members) await healthy(m);
  const proxies = members.map((m) => ({ api: `http://127.0.0.1:${m.proxyPort}/api`, ws: `ws://127.0.0.1:${m.proxyPort}` }));
  return {
    redisPort, httpPort: members[0].httpPort, stream: 'g:g:events', stop,
    httpPorts: members.map((m) => m.httpPort),
    proxies, api: proxies[0].api, ws: proxies[0].ws,
    pid: (i) => members[i].proc.pid,
    kill: (i, signal = 'SIGKILL') => members[i].proc.kill(signal),
    restart: async (i) => { launch(members[i]); await healthy(members[i]); },
  };
}

export async function startFakecord({ binary = process.env.G_FAKECORD ?? 'g-fakecord', token = 'test-token', args = [] } = {}) {
  const proc = spawn(binary, ['--listen', '127.0.0.1:0', '--token', token, '--quiet', ...args],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  const failed = once(proc, 'error').then(([e]) => { throw new Error(`cannot start g-fakecord (${binary}): ${e.message}`); });
  const lines = createInterface({ input: proc.stdout });
  const [line] = await Promise.race([once(lines, 'line'), failed]);
  const m = /listening on wss?:\/\/[^/]+:(\d+)\//.exec(line);
  if (!m) {
    proc.kill();
    throw new Error(`g-fakecord did not start: ${line}`);
  }
  const base = `http://127.0.0.1:${m[1]}`;
  const admin = async (method, path, body) => {
    const res = await fetch(`${base}/_fakecord/${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} /_fakecord/${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const fc = {
    base,
    api: `${base}/api`,            // the REST base a library takes (it adds /v10)
    ws: `ws://127.0.0.1:${m[1]}/`, // the gateway (also what /gateway/bot says)
    token,
    get: (path) => admin('GET', path),
    post: (path, body) => admin('POST', path, body),
    stats: () => admin('GET', 'stats'),
    guilds: async () => (await admin('GET', 'guilds')).guilds.filter((g) => g.bot).map((g) => g.id),
    guild: (id) => admin('GET', `guild/${id}`),
    // One event as Discord would send it (g-fakecord fills the fields `d` leaves out).
    dispatch: (guildId, t, d) => admin('POST', 'dispatch', { guild_id: guildId, t, d }),
    // A complete INTERACTION_CREATE: { kind: 'command' | 'button' | 'modal', guild_id, name, options, custom_id, … }.
    interaction: (spec) => admin('POST', 'interaction', spec),
    // The REST calls the bot made, oldest first: [{ method, route, path, body, status, at_ms }].
    rest: async () => (await admin('GET', 'rest')).calls,
    // The first REST call that `match` accepts (its body parsed as `json`), waiting up to `ms`.
    async waitForRest(match, ms = 10000) {
      const until = Date.now() + ms;
      for (;;) {
        for (const c of await fc.rest()) {
          let json = null;
          try { json = c.body ? JSON.parse(c.body) : null; } catch { /* not JSON */ }
          if (match({ ...c, json })) return { ...c, json };
        }
        if (Date.now() > until) throw new Error(`no matching REST call within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => proc.kill('SIGTERM'),
  };
  return fc;
}
