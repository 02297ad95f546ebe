// @discordjs/ws 2.x WebSocketManager against g-fakecord: 2 shards, zlib-stream transport compression.
import assert from 'node:assert/strict';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { startFakecord, waitFor, shardOf } from './fakecord_process.mjs';

const GUILDS = 10;
const fc = await startFakecord(process.argv[2], ['--guilds', String(GUILDS), '--shards', '2', '--max-concurrency', '2',
  '--token', 'conformance-token']);
const rest = new REST({ api: fc.api, version: '10' }).setToken('conformance-token');
const manager = new WebSocketManager({
  token: 'conformance-token',
  intents: 1 | 512 | 32768,
  rest,
  shardCount: 2,
  compression: CompressionMethod.ZlibNative,
});

const guildsSeen = new Map();  // guild id -> shard id
manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
  if (payload.t === 'GUILD_CREATE') guildsSeen.set(payload.d.id, shardId);
});

async function expectMessage(guildId, shard, text) {
  const got = waitFor(manager, WebSocketShardEvents.Dispatch,
    (p, id) => p.t === 'MESSAGE_CREATE' && p.d.content === text && id === shard);
  await fc.post('dispatch', { guild_id: guildId, t: 'MESSAGE_CREATE', d: { content: text } });
  const [payload] = await got;
  assert.equal(payload.d.guild_id, guildId);
  assert.equal(typeof payload.s, 'number');
}

try {
  const readies = [0, 1].map((s) => waitFor(manager, WebSocketShardEvents.Ready, (d, id) => id === s));
  await manager.connect();
  const [[ready0], [ready1]] = await Promise.all(readies);
  const expected = ready0.guilds.length + ready1.guilds.length;
  assert.equal(expected, GUILDS, 'READY lists every guild across the shards');
  const deadline = Date.now() + 20000;
  while (guildsSeen.size < GUILDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(guildsSeen.size, GUILDS, 'a GUILD_CREATE arrived for every guild');
  for (const [id, shard] of guildsSeen) assert.equal(shard, shardOf(id, 2));
  let stats = await fc.get('stats');
  assert.ok(stats.sessions.every((s) => s.transport === 'zlib-stream'), 'zlib-stream in use');
  const guild0 = [...guildsSeen].find(([, s]) => s === 0)[0];
  const guild1 = [...guildsSeen].find(([, s]) => s === 1)[0];
  await expectMessage(guild1, 1, 'hello over zlib-stream');
  console.log('ok: both shards ready over zlib-stream with every guild; MESSAGE_CREATE received');

  const resumed = waitFor(manager, WebSocketShardEvents.Resumed, (id) => id === 0);
  await fc.post('fault', { shard: 0, kind: 'reconnect' });
  await resumed;
  stats = await fc.get('stats');
  assert.equal(stats.resumes, 1);
  assert.equal(stats.identifies, 2);
  await expectMessage(guild0, 0, 'after resume');
  console.log('ok: op 7 -> resumed, no extra identify');

  const again = waitFor(manager, WebSocketShardEvents.Ready, (d, id) => id === 1);
  await fc.post('fault', { shard: 1, kind: 'invalidate' });
  await again;
  stats = await fc.get('stats');
  assert.equal(stats.identifies, 3);
  await expectMessage(guild1, 1, 'after new session');
  console.log('ok: op 9 false -> identified anew');

  assert.deepEqual(stats.violations, {});
  console.log('@discordjs/ws conformance: all checks passed');
} finally {
  await manager.destroy();
  fc.stop();
}
