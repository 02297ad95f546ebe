// Unmodified @discordjs/ws (WebSocketManager, zlib-stream) through G's proxy behind a load balancer: ready on both
// shards with every guild; the node whose proxy serves the manager is killed -9 (and started again) while messages
// flow: the manager RESUMEs through the balancer at the other proxy (the session is in Redis) and gets every message
// exactly once, with no identify at Discord; a wrong shard count is refused with 4010.
import assert from 'node:assert/strict';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { INTENTS, sendMessages, sleep, startBalancer, startWorld } from './proxy_world.mjs';

const balancer = await startBalancer();
const world = await startWorld({ proxyUrl: `ws://127.0.0.1:${balancer.port}` });
const { fc, g, truth } = world;
for (const p of g.proxies) balancer.backends.push(Number(new URL(p.ws).port));
const rest = new REST({ api: g.api, version: '10' }).setToken(fc.token);
const manager = new WebSocketManager({ token: fc.token, intents: INTENTS, rest, compression: CompressionMethod.ZlibNative });
manager.on(WebSocketShardEvents.Debug, (m, s) => { if (process.env.WS_DEBUG && !/eartbeat/.test(m)) console.log('debug', s, m); });
manager.on(WebSocketShardEvents.Error, (e, s) => console.log('shard error', s, String(e)));
const created = new Map();  // guild id → shard
const messages = [];
const events = [];
manager.on(WebSocketShardEvents.Dispatch, (p, shard) => {
  if (p.t === 'GUILD_CREATE') created.set(p.d.id, shard);
  if (p.t === 'MESSAGE_CREATE') messages.push(p.d.content);
  if (p.t === 'READY' || p.t === 'RESUMED') events.push(`${p.t}:${shard}`);
});

try {
  await manager.connect();
  for (const until = Date.now() + 20000; created.size < Object.keys(truth).length && Date.now() < until;) await sleep(50);
  assert.equal(created.size, Object.keys(truth).length, 'a GUILD_CREATE for every guild');
  assert.equal(await manager.getShardCount(), 2);
  console.log(`ok: both shards ready over zlib-stream, ${created.size} GUILD_CREATEs`);

  const identifies = (await fc.stats()).identifies;
  const guildIds = Object.keys(truth);
  const { sent, done } = sendMessages(fc, guildIds, 'ws-', 6000);
  await sleep(1000);
  g.kill(0);  // the node whose proxy the manager is connected to (and a G node)
  await sleep(500);
  await g.restart(0);
  await done;
  for (const until = Date.now() + 20000; messages.length < sent.length && Date.now() < until;) await sleep(100);
  assert.equal(new Set(messages).size, messages.length, 'no message twice');
  assert.deepEqual([...messages].sort(), [...sent].sort(), 'no message missing');
  assert.deepEqual(events.filter((e) => e.startsWith('READY')).length, 2, 'no new READY: the shards resumed');
  assert.ok(events.filter((e) => e.startsWith('RESUMED')).length >= 1, 'RESUMED at the restarted proxy');
  assert.equal((await fc.stats()).identifies, identifies, 'no identify at Discord');
  console.log(`ok: ${sent.length} messages exactly once across a kill -9 and restart of the proxy's node; the manager resumed`);

  // A manager that insists on another shard count is refused, as Discord refuses an invalid shard.
  const wrong = new WebSocketManager({ token: fc.token, intents: INTENTS, rest, shardCount: 3, shardIds: [0] });
  const closed = new Promise((resolve) => wrong.on(WebSocketShardEvents.Closed, (code) => resolve(code)));
  const refused = new Promise((resolve) => wrong.on(WebSocketShardEvents.Error, (e) => resolve(String(e))));
  wrong.connect().catch(() => {});
  assert.equal(await closed, 4010);
  assert.match(await refused, /Invalid shard/);
  await wrong.destroy().catch(() => {});
  console.log('ok: a wrong shard count is closed with 4010');
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  world.stop();
  balancer.close();
  manager.destroy().catch(() => {});
  setTimeout(() => process.exit(), 1000);
}
