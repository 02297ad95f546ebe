// discord.js Client against g-fakecord: 2 shards paced by max_concurrency 1, no transport compression.
import assert from 'node:assert/strict';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { startFakecord, waitFor, shardOf } from './fakecord_process.mjs';

const GUILDS = 10;
const fc = await startFakecord(process.argv[2], ['--guilds', String(GUILDS), '--shards', '2', '--max-concurrency', '1',
  '--token', 'conformance-token']);
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  shards: [0, 1],
  shardCount: 2,
  rest: { api: `${fc.api}` },
});

async function expectMessage(guildId, text) {
  const got = waitFor(client, Events.MessageCreate, (m) => m.content === text);
  await fc.post('dispatch', { guild_id: guildId, t: 'MESSAGE_CREATE', d: { content: text } });
  const [message] = await got;
  assert.equal(message.guildId, guildId);
  assert.ok(message.channel, 'the message resolves to a cached channel');
  assert.ok(message.author?.id, 'the message has an author');
}

try {
  const ready = waitFor(client, Events.ClientReady);
  await client.login('conformance-token');
  await ready;
  assert.equal(client.guilds.cache.size, GUILDS, 'every guild became available');
  for (const guild of client.guilds.cache.values()) {
    assert.equal(guild.shardId, shardOf(guild.id, 2), `guild ${guild.id} arrived on its shard`);
    assert.equal(guild.channels.cache.size, 4);
  }
  let stats = await fc.get('stats');
  assert.equal(stats.identifies, 2);
  const guild0 = client.guilds.cache.find((g) => g.shardId === 0).id;
  const guild1 = client.guilds.cache.find((g) => g.shardId === 1).id;
  await expectMessage(guild1, 'hello from fakecord');
  console.log('ok: ready with every guild; MESSAGE_CREATE parsed into a Message');

  const resumed = waitFor(client, Events.ShardResume, (id) => id === 0);
  await fc.post('fault', { shard: 0, kind: 'reconnect' });
  await resumed;
  stats = await fc.get('stats');
  assert.equal(stats.resumes, 1);
  assert.equal(stats.identifies, 2);
  await expectMessage(guild0, 'after resume');
  console.log('ok: op 7 -> resumed, no extra identify');

  const reidentified = waitFor(client, Events.ShardReady, (id) => id === 1);
  await fc.post('fault', { shard: 1, kind: 'invalidate' });
  await reidentified;
  stats = await fc.get('stats');
  assert.equal(stats.identifies, 3);
  await expectMessage(guild1, 'after new session');
  console.log('ok: op 9 false -> identified anew');

  stats = await fc.get('stats');
  assert.deepEqual(stats.violations, {}, 'zero violations (identify pacing respected)');
  console.log('ok: zero violations');
  console.log('discord.js conformance: all checks passed');
} finally {
  await client.destroy();
  fc.stop();
}
