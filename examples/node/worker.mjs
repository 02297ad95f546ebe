#!/usr/bin/env node
// A G backend worker: reads g:<group>:events through a consumer group, drops redeliveries, counts events by type,
// acknowledges them, and sends one presence update back through g:<group>:commands:0. See docs/workers.md.
// Prints one JSON summary line on stdout when it exits; everything else goes to stderr.
import os from 'node:os';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';

const usage = `usage: worker.mjs [--redis-host 127.0.0.1] [--redis-port 6379] [--redis-password PW] [--group g]
       [--consumer-group workers] [--consumer NAME] [--max-events N] [--timeout S] [--quiet]`;
let opts;
try {
  opts = parseArgs({
    options: {
      'redis-host': { type: 'string', default: '127.0.0.1' },
      'redis-port': { type: 'string', default: '6379' },
      'redis-password': { type: 'string' },
      group: { type: 'string', default: 'g' },
      'consumer-group': { type: 'string', default: 'workers' },
      consumer: { type: 'string', default: `${os.hostname()}-${process.pid}` },
      'max-events': { type: 'string', default: '0' },
      timeout: { type: 'string', default: '0' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  console.error(`worker: ${e.message}\n${usage}`);
  process.exit(2);
}
if (opts.help) { console.log(usage); process.exit(0); }
const maxEvents = Number(opts['max-events']), timeoutS = Number(opts.timeout), port = Number(opts['redis-port']);
if (!(maxEvents >= 0) || !(timeoutS >= 0) || !(port > 0)) {
  console.error(`worker: --redis-port, --max-events and --timeout take numbers\n${usage}`);
  process.exit(2);
}

const prefix = `g:${opts.group}:`, stream = `${prefix}events`, cg = opts['consumer-group'], me = opts.consumer;
const log = (...a) => { if (!opts.quiet) console.error('worker:', ...a); };
const stats = { events: 0, acked: 0, duplicates: 0, by_type: {}, command_sent: false, command_id: null };
const finish = (code, why) => {
  if (why) console.error(`worker: ${why}`);
  console.log(JSON.stringify(stats));
  process.exit(code);
};

// No reconnect loop: a worker that lost Redis exits (2) and its supervisor restarts it; whatever it had not
// acknowledged stays pending and is reclaimed by XAUTOCLAIM, so nothing is lost.
const password = opts['redis-password'] ?? process.env.REDIS_PASS;
const redis = new Redis({ host: opts['redis-host'], port, password, lazyConnect: true, connectTimeout: 3000,
                          retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
let lastError = null;  // the cause: a failed command only says "Connection is closed."
redis.on('error', (e) => { lastError = e; });
const where = `${opts['redis-host']}:${port}`;

// Per shard: seq → stream entry id of the current session. The same (shard, seq) under the same entry id is a
// redelivery; under another id it is a new session whose READY went to another consumer of the group.
const seen = new Map();
const SEEN_MAX = 100000;  // per shard: redeliveries are recent, so old seqs can go

function handle(id, fields) {
  const f = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  const shard = Number(f.shard), seq = Number(f.seq), t = f.t;
  let s = seen.get(shard);
  if (s?.get(seq) === id) { stats.duplicates++; return; }
  if (!s || t === 'READY' || s.has(seq)) seen.set(shard, s = new Map());  // a new session: seq starts again
  s.set(seq, id);
  if (s.size > SEEN_MAX) s.delete(s.keys().next().value);
  stats.events++;
  stats.by_type[t] = (stats.by_type[t] ?? 0) + 1;
  // Parse d only for what this worker acts on: most events are just counted.
  if (opts.quiet || (t !== 'MESSAGE_CREATE' && t !== 'READY')) return;
  let d;
  try {
    d = JSON.parse(f.d);
  } catch {
    return log(`shard ${shard} seq ${seq}: d is not JSON (${t})`);  // a poison entry must not stop the worker
  }
  if (t === 'READY') log(`shard ${shard}: new session ${d.session_id} (node ${f.node})`);
  else log(`shard ${shard} seq ${seq}: message in ${d.channel_id} from ${d.author?.username}: ${d.content}`);
}

async function sendPresence() {
  // Presence is per connection, not per guild: a real bot sends it to every shard (0..shard_count-1).
  const d = { since: null, activities: [{ name: 'G example worker', type: 0 }], status: 'online', afk: false };
  stats.command_id = await redis.xadd(`${prefix}commands:0`, '*', 'op', '3', 'd', JSON.stringify(d));
  stats.command_sent = true;
  log(`presence update queued as ${stats.command_id} on ${prefix}commands:0`);
}

async function consume(entries) {
  const ids = [];
  for (const [id, fields] of entries) {
    if (fields) handle(id, fields);  // null: trimmed from the stream while pending; only the ack is left to do
    ids.push(id);
  }
  if (!ids.length) return;
  // Acknowledge after the work: a crash in between means redelivery (at least once), never a loss.
  stats.acked += await redis.xack(stream, cg, ...ids);
  if (stats.events > 0 && !stats.command_sent) await sendPresence();
}

let stopping = false, joined = false;
process.on('SIGINT', () => { stopping = true; });
process.on('SIGTERM', () => { stopping = true; });

try {
  await redis.connect();
  await redis.xgroup('CREATE', stream, cg, '0', 'MKSTREAM').catch((e) => {
    if (!String(e.message).startsWith('BUSYGROUP')) throw e;  // the group exists: join it
  });
  joined = true;
  log(`consumer ${me} of group ${cg} on ${stream} at ${where}`);
  const started = Date.now();
  let lastClaim = 0;
  while (!stopping) {
    if (maxEvents > 0 && stats.acked >= maxEvents) finish(0);
    if (timeoutS > 0 && Date.now() - started >= timeoutS * 1000) {
      if (maxEvents > 0) finish(1, `timeout: ${stats.acked} of ${maxEvents} events acknowledged in ${timeoutS} s`);
      finish(0);
    }
    // Entries another consumer read but never acknowledged for 60 s (it crashed): take them over. Also done
    // every minute, since consumers of a group can die at any time.
    if (Date.now() - lastClaim >= 60000) {
      lastClaim = Date.now();
      let cursor = '0-0';
      do {
        const [next, entries] = await redis.xautoclaim(stream, cg, me, 60000, cursor, 'COUNT', 100);
        if (entries.length) log(`reclaimed ${entries.length} pending entries`);
        await consume(entries);
        cursor = next;
      } while (cursor !== '0-0' && !stopping);
    }
    const r = await redis.xreadgroup('GROUP', cg, me, 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', stream, '>');
    if (r) await consume(r[0][1]);
  }
  finish(0);
} catch (e) {
  const cause = e.name === 'ReplyError' ? e : lastError ?? e;  // WRONGPASS, NOAUTH, … or a network error
  const what = cause.name === 'ReplyError' ? 'Redis at' : joined ? 'lost Redis at' : 'cannot reach Redis at';
  finish(2, `${what} ${where}: ${cause.message}`);
}
