#!/usr/bin/env node
// Reads G's cache standard (docs/cache.md: what g-cache writes into Redis) to answer two questions a bot asks all
// the time: which roles does this member have, and what may they do in this channel.
//
// As a library (any ioredis client; prefix is 'g:<group>:', e.g. 'g:g:'), from the g-worker package:
//   import { memberRoles, channelPermissions, computePermissions } from 'g-worker';
//   await memberRoles(redis, 'g:g:', guildId, userId)        → [role, …] (@everyone first) or null
//   await channelPermissions(redis, 'g:g:', channelId, userId) → BigInt permission bits or null
// As a CLI, it checks the cache against g-fakecord's truth (see usage below); --self-test checks the algorithm.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import assert from 'node:assert/strict';

// The functions live in the g-worker package (clients/node); this file keeps them importable from here too.
import { memberRoles, channelPermissions, computePermissions, ALL, ADMINISTRATOR, VIEW_CHANNEL, SEND_MESSAGES }
  from 'g-worker';
export { memberRoles, channelPermissions, computePermissions, ALL, ADMINISTRATOR, VIEW_CHANNEL, SEND_MESSAGES };

const parse = (s) => (s == null ? null : JSON.parse(s));

// ---- self-test: hand-made cases, then the Redis functions on a fake client ------------------------------------

function selfTest() {
  const guild = { id: '1', owner_id: '100' };
  const roles = {
    1: { id: '1', permissions: String(VIEW_CHANNEL | SEND_MESSAGES) },  // @everyone
    2: { id: '2', permissions: String(ADMINISTRATOR) },
    3: { id: '3', permissions: '0' },  // "helpers": nothing at guild level, VIEW_CHANNEL back in the channel
  };
  const member = (id, ...r) => ({ user: { id }, roles: r });
  const channel = {
    id: '50',
    permission_overwrites: [
      { id: '1', type: 0, allow: '0', deny: String(VIEW_CHANNEL | SEND_MESSAGES) },  // @everyone: hidden
      { id: '3', type: 0, allow: String(VIEW_CHANNEL), deny: '0' },                 // helpers: see it
      { id: '201', type: 1, allow: '0', deny: String(VIEW_CHANNEL) },               // one helper: not
    ],
  };
  const perms = (m, c = channel) => computePermissions(guild, roles, m, c);
  assert.equal(perms(member('100')), ALL, 'owner: everything, despite the overwrites');
  assert.equal(perms(member('200', '2')), ALL, 'administrator: everything, despite the overwrites');
  assert.equal(perms(member('200'), null), VIEW_CHANNEL | SEND_MESSAGES, 'guild level: @everyone');
  assert.equal(perms(member('200')), 0n, '@everyone overwrite denies');
  assert.equal(perms(member('200', '3')), VIEW_CHANNEL, 'a role overwrite allows VIEW_CHANNEL back');
  assert.equal(perms(member('201', '3')), 0n, 'a member overwrite denies it again');
  assert.equal(perms(member('200', '999', '3')), VIEW_CHANNEL, 'an unknown role id is ignored');
  assert.equal(computePermissions(guild, Object.values(roles), member('200', '3'), channel), VIEW_CHANNEL,
               'roles as an array');

  // The cache as g-cache writes it (prefix 'g:t:'), with a thread under channel 50, and a client with just the
  // commands the functions use.
  const p = 'g:t:', k = `${p}cache:guild:1`, json = JSON.stringify;
  const data = {
    [`${p}cache:channel:50`]: '1', [`${p}cache:channel:60`]: '1', [k]: json(guild),
    [`${k}:channels`]: { 50: json({ ...channel, guild_id: '1' }) },
    [`${k}:threads`]: { 60: json({ id: '60', type: 11, guild_id: '1', parent_id: '50' }) },
    [`${k}:roles`]: Object.fromEntries(Object.entries(roles).map(([id, r]) => [id, json(r)])),
    [`${k}:members`]: { 200: json(member('200', '999', '3')), 201: json(member('201', '3')) },
  };
  const redis = {
    get: async (key) => data[key] ?? null,
    hget: async (key, f) => data[key]?.[f] ?? null,
    hmget: async (key, ...fs) => fs.map((f) => data[key]?.[f] ?? null),
  };
  return (async () => {
    assert.deepEqual((await memberRoles(redis, p, '1', '200')).map((r) => r.id), ['1', '3']);
    assert.equal(await memberRoles(redis, p, '1', '202'), null, 'not a cached member');
    assert.equal(await channelPermissions(redis, p, '50', '200'), VIEW_CHANNEL);
    assert.equal(await channelPermissions(redis, p, '60', '200'), VIEW_CHANNEL, 'thread: the parent\'s overwrites');
    assert.equal(await channelPermissions(redis, p, '60', '201'), 0n);
    assert.equal(await channelPermissions(redis, p, '70', '200'), null, 'unknown channel');
    console.log('self-test ok');
  })();
}

// ---- CLI: compare the cache with g-fakecord's truth ---------------------------------------------------------

const usage = `usage: cache.mjs --redis-port P [--redis-host 127.0.0.1] [--redis-password PW] [--group g]
       --fakecord-port F [--guilds 5]
       cache.mjs --self-test`;

class Unreachable extends Error {}  // exit 2: Redis or g-fakecord cannot be asked

async function fetchTruth(port, guildId) {
  const url = `http://127.0.0.1:${port}/_fakecord/guild/${guildId}`;
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  } catch (e) {
    throw new Unreachable(`cannot reach g-fakecord at 127.0.0.1:${port}: ${e.cause?.message ?? e.message}`);
  }
  if (res.status === 404) return null;  // the bot is not (or no longer) in that guild
  if (!res.ok) throw new Unreachable(`g-fakecord: GET ${url}: HTTP ${res.status} ${(await res.text()).trim()}`);
  return res.json();
}

// Role ids as a comparable string: @everyone must come first, the order of the others does not matter.
const roleKey = (ids) => `${ids[0]}|${ids.slice(1).sort().join(',')}`;

// One guild: every member's roles, and every member's permissions in every text channel, cache vs truth.
async function checkGuild(redis, prefix, guildId, truth) {
  const r = { members: 0, channels: 0, checked: 0, mismatches: 0, notes: [] };
  const mismatch = (what) => { r.mismatches++; r.notes.push(`guild ${guildId}: ${what}`); };
  if (!truth) { mismatch('in cache:guilds, but g-fakecord says the bot is not in it'); return r; }
  const known = new Set(truth.roles.map((x) => x.id));
  const texts = truth.channels.filter((c) => c.type === 0);
  r.members = truth.members.length;
  r.channels = texts.length;
  for (const m of truth.members) {
    const uid = m.user.id;
    const got = await memberRoles(redis, prefix, guildId, uid);
    const want = [guildId, ...m.roles.filter((id) => id !== guildId && known.has(id))];
    r.checked++;
    if (!got) { mismatch(`member ${uid} is not in the cache`); continue; }
    const gotIds = got.map((x) => x.id);
    if (roleKey(gotIds) !== roleKey(want)) mismatch(`member ${uid}: roles ${gotIds} in the cache, ${want} in truth`);
    const perms = await Promise.all(texts.map((c) => channelPermissions(redis, prefix, c.id, uid)));
    texts.forEach((c, i) => {
      r.checked++;
      const expect = computePermissions(truth, truth.roles, m, c);
      if (perms[i] !== expect) mismatch(`member ${uid} in channel ${c.id}: ${perms[i]} from the cache, ${expect} from truth`);
    });
  }
  return r;
}

async function cli(argv) {
  let opts;
  try {
    opts = parseArgs({
      args: argv,
      options: {
        'redis-host': { type: 'string', default: '127.0.0.1' },
        'redis-port': { type: 'string' },
        'redis-password': { type: 'string' },
        group: { type: 'string', default: 'g' },
        'fakecord-port': { type: 'string' },
        guilds: { type: 'string', default: '5' },
        'self-test': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    console.error(`cache: ${e.message}\n${usage}`);
    process.exit(2);
  }
  if (opts.help) { console.log(usage); process.exit(0); }
  if (opts['self-test']) { await selfTest(); process.exit(0); }
  const port = Number(opts['redis-port']), fcPort = Number(opts['fakecord-port']), maxGuilds = Number(opts.guilds);
  if (!(port > 0) || !(fcPort > 0) || !Number.isInteger(maxGuilds) || maxGuilds < 0) {
    console.error(`cache: --redis-port and --fakecord-port are required; --guilds takes a number (0: all)\n${usage}`);
    process.exit(2);
  }

  const prefix = `g:${opts.group}:`, where = `${opts['redis-host']}:${port}`;
  const summary = { guilds: 0, members: 0, channels: 0, checked: 0, mismatches: 0 };
  const finish = (code, why) => {
    if (why) console.error(`cache: ${why}`);
    console.log(JSON.stringify(summary));
    process.exit(code);
  };
  const { default: Redis } = await import('ioredis');  // only the CLI needs it: the functions take any client
  const password = opts['redis-password'] ?? process.env.REDIS_PASS;
  const redis = new Redis({ host: opts['redis-host'], port, password, lazyConnect: true, connectTimeout: 3000,
                            retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  let lastError = null;  // the cause: a failed command only says "Connection is closed."
  redis.on('error', (e) => { lastError = e; });

  try {
    await redis.connect();
    const ids = (await redis.hkeys(`${prefix}cache:guilds`)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    let shown = 0;
    for (const gid of ids) {
      if (maxGuilds > 0 && summary.guilds >= maxGuilds) break;
      const cached = parse(await redis.get(`${prefix}cache:guild:${gid}`));
      if (!cached || cached.unavailable) {  // in an outage the cache keeps what it had: nothing to compare
        console.error(`cache: guild ${gid}: ${cached ? 'unavailable' : 'no cache:guild entry'}, skipped`);
        continue;
      }
      // G and the simulator both move on while we read: a mismatch may be an event still on its way to the
      // cache, so a guild that does not match is read again once, a second later, and only that counts.
      let r;
      for (let attempt = 0; attempt < 2; attempt++) {
        if (attempt) await new Promise((ok) => setTimeout(ok, 1000));
        r = await checkGuild(redis, prefix, gid, await fetchTruth(fcPort, gid));
        if (!r.mismatches) break;
      }
      summary.guilds++;
      for (const f of ['members', 'channels', 'checked', 'mismatches']) summary[f] += r[f];
      for (const n of r.notes) if (shown++ < 20) console.error(`cache: mismatch: ${n}`);
    }
    await redis.quit();
  } catch (e) {
    if (e instanceof Unreachable) finish(2, e.message);
    if (e.name === 'ReplyError') finish(2, `Redis at ${where}: ${e.message}`);  // WRONGPASS, NOAUTH, WRONGTYPE, …
    if (lastError || /Connection is closed|ECONN|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH/.test(e.message)) {
      finish(2, `cannot reach Redis at ${where}: ${(lastError ?? e).message}`);
    }
    if (e instanceof SyntaxError) finish(2, `bad value: ${e.message}`);  // not JSON, a guild id not a number
    finish(2, e.stack);
  }
  if (!summary.checked && !summary.mismatches) finish(1, `nothing to check: no available guild in ${prefix}cache:guilds`);
  finish(summary.mismatches ? 1 : 0);
}

// Run the CLI only when started as a program, not when imported.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await cli(process.argv.slice(2));
}
