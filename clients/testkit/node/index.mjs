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
// The binary: options.binary, else $G_FAKECORD, else `g-fakecord` on the PATH.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { once } from 'node:events';

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
