// g-bench peer: @discordjs/ws (2.0.4) does what G does with the gateway. It connects N shards with a
// WebSocketManager (SimpleShardingStrategy: every shard in this one process, like a discord.js bot), takes every
// dispatch from the raw WebSocketShardEvents.Dispatch event and XADDs it to g:<group>:events with the fields G writes:
//
//   XADD g:<group>:events MAXLEN ~ 1000000 * shard <id> seq <s> t <name> d <JSON of d> node <name> ts <ms received>
//
// `d` is JSON.stringify(payload.d): @discordjs/ws parses each payload and hands out the object, never Discord's
// bytes. XADDs go out in ioredis pipelines, one per event-loop turn (setImmediate), so Redis round trips are not what
// limits the peer.
//
// Usage: node peer.mjs --rest http://127.0.0.1:PORT/api --token T --shards N --intents I --redis-port P
//                      --group g --name peer-name [--gateway ws://…] [--redis-host 127.0.0.1]
//                      [--compress zlib-stream|none] [--ready-timeout-s 600]
// stdout: `READY <n>` once every shard got its READY; on SIGTERM/SIGINT the shards close, the pipeline is flushed and
// one JSON line {"events": n, "xadds": n} follows; exit 0. Errors: one line on stderr, exit 1 (2 for bad usage).
import { parseArgs } from 'node:util';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import Redis from 'ioredis';

const MAXLEN = '1000000';
// Close codes after which @discordjs/ws gives the shard up: the peer cannot go on.
const FATAL_CLOSE = new Map([
  [4004, 'authentication failed'], [4010, 'invalid shard'], [4011, 'sharding required'],
  [4012, 'invalid API version'], [4013, 'invalid intents'], [4014, 'disallowed intents'],
]);

function die(message, code = 1) {
  process.stderr.write(`discordjs peer: ${message}\n`);
  process.exit(code);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      rest: { type: 'string' },
      gateway: { type: 'string' },
      token: { type: 'string' },
      shards: { type: 'string' },
      intents: { type: 'string' },
      'redis-host': { type: 'string', default: '127.0.0.1' },
      'redis-port': { type: 'string' },
      group: { type: 'string' },
      name: { type: 'string' },
      compress: { type: 'string', default: 'zlib-stream' },
      'ready-timeout-s': { type: 'string', default: '600' },
    },
    strict: true,
  }));
} catch (e) {
  die(`${e.message}`, 2);
}
for (const k of ['rest', 'token', 'shards', 'intents', 'redis-port', 'group', 'name']) {
  if (args[k] === undefined || args[k] === '') die(`--${k} is required`, 2);
}
const shardCount = Number(args.shards);
const intents = Number(args.intents);
const redisPort = Number(args['redis-port']);
const readyTimeoutMs = Number(args['ready-timeout-s']) * 1000;
if (!Number.isInteger(shardCount) || shardCount < 1) die(`--shards must be a positive integer, not ${args.shards}`, 2);
if (!Number.isInteger(intents) || intents < 0) die(`--intents must be a non-negative integer, not ${args.intents}`, 2);
if (!Number.isInteger(redisPort) || redisPort < 1 || redisPort > 65535) die(`bad --redis-port ${args['redis-port']}`, 2);
if (!(readyTimeoutMs > 0)) die(`bad --ready-timeout-s ${args['ready-timeout-s']}`, 2);
let compression;
if (args.compress === 'zlib-stream') compression = CompressionMethod.ZlibNative;  // node:zlib; zlib-sync is not needed
else if (args.compress === 'none') compression = null;
else die(`--compress must be zlib-stream or none, not ${args.compress}`, 2);

const streamKey = `g:${args.group}:events`;
const node = args.name;

// Redis first: without it there is nothing to do.
const redis = new Redis({
  host: args['redis-host'],
  port: redisPort,
  lazyConnect: true,
  enableAutoPipelining: false,  // we pipeline ourselves
  maxRetriesPerRequest: 3,
  retryStrategy: () => null,    // a lost Redis is an error, not something to wait out
});
redis.on('error', () => {});   // surfaced by the commands that fail
try {
  await redis.connect();
} catch (e) {
  die(`cannot connect to Redis at ${args['redis-host']}:${redisPort}: ${e.message}`);
}

let stopping = false;
let closed = false;
let events = 0;
let xadds = 0;
let xaddErrors = 0;
let firstXaddError = null;
let pipe = null;  // the pipeline collecting this turn's XADDs
const inflight = new Set();

function flush() {
  const p = pipe;
  pipe = null;
  if (!p) return;
  const done = p.exec().then((results) => {
    for (const [err] of results) {
      if (err) {
        xaddErrors++;
        firstXaddError ??= err.message;
      } else {
        xadds++;
      }
    }
  }, (err) => {
    xaddErrors += p.length;
    firstXaddError ??= err.message;
  }).finally(() => inflight.delete(done));
  inflight.add(done);
}

const rest = new REST({ api: args.rest, version: '10' }).setToken(args.token);
const manager = new WebSocketManager({
  token: args.token,
  intents,
  rest,
  shardCount,
  compression,
});
if (args.gateway) {
  // Keep /gateway/bot's session_start_limit (max_concurrency paces the identifies), connect to the given URL.
  const fetchInfo = manager.fetchGatewayInformation.bind(manager);
  manager.fetchGatewayInformation = async (force) => ({ ...(await fetchInfo(force)), url: args.gateway });
}

manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
  if (closed) return;
  events++;
  if (pipe === null) {
    pipe = redis.pipeline();
    setImmediate(flush);
  }
  pipe.xadd(streamKey, 'MAXLEN', '~', MAXLEN, '*', 'shard', shardId, 'seq', payload.s, 't', payload.t,
    'd', JSON.stringify(payload.d), 'node', node, 'ts', Date.now());
});

const readyShards = new Set();
let readyTimer = null;
manager.on(WebSocketShardEvents.Ready, (_data, shardId) => {
  if (readyShards.has(shardId)) return;
  readyShards.add(shardId);
  if (readyShards.size === shardCount) {
    clearTimeout(readyTimer);
    process.stdout.write(`READY ${shardCount}\n`);
  }
});
manager.on(WebSocketShardEvents.Closed, (code, shardId) => {
  if (FATAL_CLOSE.has(code) && !stopping) die(`shard ${shardId} closed by the gateway with ${code} (${FATAL_CLOSE.get(code)})`);
});
manager.on(WebSocketShardEvents.Error, (err, shardId) => {
  if (!stopping) process.stderr.write(`discordjs peer: warning: shard ${shardId}: ${err.message}\n`);
});

async function stop() {
  if (stopping) return;
  stopping = true;
  clearTimeout(readyTimer);
  const timeout = (ms) => new Promise((r) => setTimeout(r, ms).unref());
  await Promise.race([manager.destroy({ code: 1000, reason: 'peer stopping' }).catch(() => {}), timeout(5000)]);
  // Whatever was still being inflated when the shards closed can still arrive: flush until nothing is left.
  const deadline = Date.now() + 30000;
  while ((pipe !== null || inflight.size) && Date.now() < deadline) {
    flush();
    await Promise.race([Promise.allSettled([...inflight]), timeout(deadline - Date.now())]);
  }
  closed = true;  // from here on nothing is counted that could not be written
  if (inflight.size) process.stderr.write(`discordjs peer: ${inflight.size} pipelines still unanswered at exit\n`);
  if (xaddErrors) process.stderr.write(`discordjs peer: ${xaddErrors} XADDs failed, first: ${firstXaddError}\n`);
  redis.disconnect();
  process.stdout.write(`${JSON.stringify({ events, xadds })}\n`, () => process.exit(xaddErrors ? 1 : 0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

readyTimer = setTimeout(() => die(`${readyShards.size} of ${shardCount} shards ready after ${args['ready-timeout-s']} s`),
  readyTimeoutMs);
try {
  await manager.connect();
} catch (e) {
  die(`cannot connect the shards: ${e.message}`);
}
