// The g-worker package (clients/node) against a running cluster with g-cache: events through a consumer group,
// the shard of every guild event as G routed it, commands through every shard with their answers, the two
// rejections a worker can cause, and the cache. One JSON line; exit 0 when every check held.
import Redis from 'ioredis';
import { StreamWorker, shardOf, CommandRejected, memberRoles, channelPermissions } from 'g-worker';

const port = Number(process.argv[2]);
const redis = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1 });
await redis.connect();
// A consumer that read 10 entries and died: the worker reclaims them once idle for claimIdleMs.
await redis.xgroup('CREATE', 'g:g:events', 'libcheck-js', '0', 'MKSTREAM');
await redis.xreadgroup('GROUP', 'libcheck-js', 'ghost', 'COUNT', 10, 'STREAMS', 'g:g:events', '>');
await new Promise((r) => setTimeout(r, 1200));
const w = new StreamWorker({ redis, consumerGroup: 'libcheck-js', consumer: 'c1', claimIdleMs: 1000 });
await w.start();
const out = { events: 0, guild_events: 0, wrong_shard: 0, sent_all: 0, sent_guild: false, unknown_op: false,
              unknown_shard: false, member_roles: 0, permissions: false };
const shards = await w.shardCount();
let guild = null;
for await (const e of w.events()) {
  const d = e.json();
  const gid = ['GUILD_CREATE', 'GUILD_UPDATE', 'GUILD_DELETE'].includes(e.t) ? d.id : d.guild_id;
  if (gid) {
    out.guild_events++;
    guild ??= gid;
    if (shardOf(gid, shards) !== e.shard) out.wrong_shard++;
  }
  await w.ack(e);
  if (++out.events >= 100) break;
}
const presence = { since: null, activities: [{ name: 'g-worker js', type: 0 }], status: 'online', afk: false };
out.sent_all = (await w.sendToAll(3, presence)).filter((a) => a.status === 'sent').length;
out.sent_guild = (await w.sendToGuild(guild, 3, presence)).status === 'sent';
const rejected = async (p) => { try { await p; return null; } catch (e) { return e instanceof CommandRejected ? e.answer.reason : e.message; } };
out.unknown_op = (await rejected(w.sendCommand(0, 2, { token: 'x' }))) === 'unknown_op';
out.unknown_shard = (await rejected(w.sendCommand(shards + 5, 3, presence, { timeoutMs: 15000 }))) === 'unknown_shard';
// The cache: the bot's own member in a cached guild, and its permissions in one of the guild's channels.
const me = JSON.parse(await redis.get('g:g:cache:me'));
const [gid] = await redis.hkeys('g:g:cache:guilds');
out.member_roles = (await memberRoles(redis, 'g:g:', gid, me.id))?.length ?? 0;
const [cid] = await redis.hkeys(`g:g:cache:guild:${gid}:channels`);
out.permissions = typeof (await channelPermissions(redis, 'g:g:', cid, me.id)) === 'bigint';
await w.close();
redis.disconnect();
out.reclaimed = w.stats.reclaimed;
const ok = out.reclaimed >= 10 && out.events >= 100 && out.guild_events > 0 && out.wrong_shard === 0 && out.sent_all === shards &&
  out.sent_guild && out.unknown_op && out.unknown_shard && out.member_roles > 0 && out.permissions;
console.log(JSON.stringify({ ok, shards, ...out }));
process.exit(ok ? 0 : 1);
