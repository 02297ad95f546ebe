// What the proxy tests share: g-fakecord, a two-node G cluster serving the proxy on both nodes, g-cache (started by
// the test kit), and a wait until the cache holds every member (G's chunking asks for them).
import Redis from 'ioredis';
import { connect, createServer } from 'node:net';
import { startFakecord, startG } from '../../clients/testkit/node/index.mjs';

export const INTENTS = 1 | 2 | 128 | 512 | 32768;  // guilds, members, voice states, messages, content

export async function startWorld({ guilds = 8, members = 5, shards = 2, proxyUrl = '' } = {}) {
  const fc = await startFakecord({ args: ['--guilds', String(guilds), '--shards', String(shards), '--members', String(members)] });
  const g = await startG(fc, { nodes: 2, proxy: true, proxyUrl, intents: INTENTS, extraConfig: '[chunking]\nenabled = true\n' });
  const redis = new Redis({ port: g.redisPort, maxRetriesPerRequest: 1 });
  const truth = {};
  for (const id of await fc.guilds()) truth[id] = await fc.guild(id);
  const until = Date.now() + 30000;
  for (;;) {
    const cached = await redis.hkeys('g:g:cache:guilds');
    let full = cached.length === Object.keys(truth).length;
    for (const id of Object.keys(truth)) {
      if (!full) break;
      full = (await redis.hlen(`g:g:cache:guild:${id}:members`)) >= truth[id].members.length;
    }
    if (full) break;
    if (Date.now() > until) throw new Error('g-cache did not fill the cache within 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = () => { redis.disconnect(); g.stop(); fc.stop(); };
  return { fc, g, redis, truth, stop };
}

// The node index (0 or 1) that holds `shard` now, from the lease and the node registry.
export async function ownerOf(redis, shard, shards = 2) {
  const id = await redis.get(`g:g:owner:${shards}:${shard}`);
  const entry = JSON.parse((await redis.hget('g:g:nodes', id)) ?? '{}');
  return entry.name === 'kit1' ? 1 : entry.name === 'kit0' ? 0 : -1;
}

// A TCP load balancer in front of the proxies, as a deployment would have: each connection goes to the first proxy
// that accepts it. Bots told its URL ([proxy] url) RESUME through it at whichever proxy is alive.
export async function startBalancer() {
  const backends = [];
  const server = createServer((client) => {
    const attempt = (i) => {
      if (i >= backends.length) return client.destroy();
      const up = connect(backends[i], '127.0.0.1');
      let connected = false;
      up.once('connect', () => {
        connected = true;
        client.pipe(up);
        up.pipe(client);
        client.once('close', () => up.destroy());
        up.once('close', () => client.destroy());
      });
      up.on('error', () => { if (!connected) attempt(i + 1); });
      client.on('error', () => up.destroy());
    };
    attempt(0);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, backends, close: () => server.close() };
}

// MESSAGE_CREATEs `<prefix>1`, `<prefix>2`, … round-robin over the guilds every 40 ms for `ms`, while the caller
// does its damage. `sent` fills as they go; `done` resolves when the last one was dispatched.
export function sendMessages(fc, guildIds, prefix, ms) {
  const sent = [];
  const done = (async () => {
    for (let n = 1, until = Date.now() + ms; Date.now() < until; ++n, await sleep(40)) {
      await fc.dispatch(guildIds[n % guildIds.length], 'MESSAGE_CREATE', { content: `${prefix}${n}` });
      sent.push(`${prefix}${n}`);
    }
  })();
  return { sent, done };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
