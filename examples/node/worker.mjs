#!/usr/bin/env node
// A G backend worker on the g-worker package (clients/node): reads g:<group>:events through a consumer group
// (redeliveries dropped, a dead consumer's entries reclaimed), counts events by type, acknowledges them, and sends
// one presence update through shard 0, awaiting G's answer. See docs/workers.md.
// Prints one JSON summary line on stdout when it exits; everything else goes to stderr.
import os from 'node:os';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { StreamWorker } from 'g-worker';

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

const log = (...a) => { if (!opts.quiet) console.error('worker:', ...a); };
const stats = { events: 0, acked: 0, duplicates: 0, by_type: {}, command_sent: false, command_id: null };
const finish = (code, why) => {
  if (why) console.error(`worker: ${why}`);
  console.log(JSON.stringify(stats));
  process.exit(code);
};

// No reconnect loop: a worker that lost Redis exits (2) and its supervisor restarts it; whatever it had not
// acknowledged stays pending and is reclaimed by the next worker (StreamWorker's XAUTOCLAIM), so nothing is lost.
const password = opts['redis-password'] ?? process.env.REDIS_PASS;
const redis = new Redis({ host: opts['redis-host'], port, password, lazyConnect: true, connectTimeout: 3000,
                          retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
let lastError = null;  // the cause: a failed command only says "Connection is closed."
redis.on('error', (e) => { lastError = e; });
const where = `${opts['redis-host']}:${port}`;
const worker = new StreamWorker({ redis, group: opts.group, consumerGroup: opts['consumer-group'], consumer: opts.consumer,
                                  claimIdleMs: 60000 });

function handle(e) {
  stats.events++;
  stats.by_type[e.t] = (stats.by_type[e.t] ?? 0) + 1;
  // Parse d only for what this worker acts on: most events are just counted.
  if (opts.quiet || (e.t !== 'MESSAGE_CREATE' && e.t !== 'READY')) return;
  let d;
  try {
    d = e.json();
  } catch {
    return log(`shard ${e.shard} seq ${e.seq}: d is not JSON (${e.t})`);  // a poison entry must not stop the worker
  }
  if (e.t === 'READY') log(`shard ${e.shard}: new session ${d.session_id} (node ${e.node})`);
  else log(`shard ${e.shard} seq ${e.seq}: message in ${d.channel_id} from ${d.author?.username}: ${d.content}`);
}

async function sendPresence() {
  // Presence is per connection, not per guild: a real bot sends it through every shard (worker.sendToAll).
  const d = { since: null, activities: [{ name: 'G example worker', type: 0 }], status: 'online', afk: false };
  stats.command_sent = true;  // asked once, whatever the answer
  try {
    const answer = await worker.sendCommand(0, 3, d);
    stats.command_id = answer.id;
    log(`presence update ${answer.id} sent by shard 0 (node ${answer.node})`);
  } catch (e) {
    stats.command_sent = false;
    log(`presence update not sent: ${e.message}`);
  }
}

let stopping = false, joined = false;
process.on('SIGINT', () => { stopping = true; worker.stopped = true; });
process.on('SIGTERM', () => { stopping = true; worker.stopped = true; });

try {
  await redis.connect();
  await worker.start();
  joined = true;
  log(`consumer ${opts.consumer} of group ${opts['consumer-group']} on ${worker.stream} at ${where}`);
  const started = Date.now();
  const check = setInterval(() => {
    if (timeoutS > 0 && Date.now() - started >= timeoutS * 1000) {
      if (maxEvents > 0) finish(1, `timeout: ${stats.acked} of ${maxEvents} events acknowledged in ${timeoutS} s`);
      finish(0);
    }
  }, 200);
  let presence = null;
  for await (const e of worker.events()) {
    handle(e);
    // Acknowledge after the work: a crash in between means redelivery (at least once), never a loss.
    stats.acked += await worker.ack(e);
    stats.duplicates = worker.stats.duplicates;
    presence ??= sendPresence();
    if (maxEvents > 0 && stats.acked >= maxEvents && worker.unhanded === 0) break;  // finish what was read
    if (stopping) break;
  }
  clearInterval(check);
  await presence;
  await worker.close();
  finish(0);
} catch (e) {
  const cause = e.name === 'ReplyError' ? e : lastError ?? e;  // WRONGPASS, NOAUTH, … or a network error
  const what = cause.name === 'ReplyError' ? 'Redis at' : joined ? 'lost Redis at' : 'cannot reach Redis at';
  finish(2, `${what} ${where}: ${cause.message}`);
}
