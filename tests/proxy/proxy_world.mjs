// What the proxy tests share: g-fakecord, a two-node G cluster serving the proxy on both nodes, g-cache (started by
// the test kit), and a wait until the cache holds every member (G's chunking asks for them).
import Redis from 'ioredis';
import { startFakecord, startG } from '../../clients/testkit/node/index.mjs';

export const INTENTS = 1 | 2 | 128 | 512 | 32768;  // guilds, members, voice states, messages, content

export async function startWorld({ guilds = 8, members = 5, shards = 2 } = {}) {
  const fc = await startFakecord({ args: ['--guilds', String(guilds), '--shards', String(shards), '--members', String(members)] });
  const g = await startG(fc, { nodes: 2, proxy: true, intents: INTENTS, extraConfig: '[chunking]\nenabled = true\n' });
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
