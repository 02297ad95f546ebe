// Unmodified discord.js (Client) through G's proxies (behind a load balancer), in front of a two-node G cluster in
// front of g-fakecord:
// ready with every guild and caches equal to g-fakecord's truth; messages arrive once; kill -9 of the G node
// holding a shard loses and doubles nothing; the bot process killed and started again is ready in seconds without
// an identify at Discord; presence, member requests and voice go through. Exit 0 when all hold.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ownerOf, sendMessages, sleep, startBalancer, startWorld } from './proxy_world.mjs';

// The bot reaches the proxies through a load balancer (REST and gateway), as in a deployment: whichever node is
// killed, its RESUME lands on a live proxy.
const balancer = await startBalancer();
const world = await startWorld({ proxyUrl: `ws://127.0.0.1:${balancer.port}` });
const { fc, g, redis, truth } = world;
for (const p of g.proxies) balancer.backends.push(Number(new URL(p.ws).port));
const api = `http://127.0.0.1:${balancer.port}/api`;

function startBot() {
  const proc = spawn(process.execPath, ['bot.mjs', fc.token, api], { stdio: ['pipe', 'pipe', 'inherit'] });
  const bot = { proc, lines: [], waiters: [] };
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const o = JSON.parse(line);
    bot.lines.push(o);
    for (const w of [...bot.waiters]) if (w.match(o)) { bot.waiters.splice(bot.waiters.indexOf(w), 1); w.resolve(o); }
  });
  bot.send = (o) => proc.stdin.write(`${JSON.stringify(o)}\n`);
  bot.wait = (match, ms = 20000) => {
    const old = bot.lines.find(match);
    if (old) return Promise.resolve(old);
    return new Promise((resolve, reject) => {
      bot.waiters.push({ match, resolve });
      setTimeout(() => reject(new Error(`bot: nothing matching within ${ms} ms`)), ms);
    });
  };
  return bot;
}

const summary = {};
let bot;
try {
  // Ready with every guild; the library's cache equals g-fakecord's truth.
  bot = startBot();
  const { ready } = await bot.wait((o) => o.ready);
  assert.equal(ready.shards, 2, 'the bot runs G\'s shard count');
  assert.deepEqual(Object.keys(ready.guilds).sort(), Object.keys(truth).sort(), 'every guild');
  for (const [id, t] of Object.entries(truth)) {
    const c = ready.guilds[id];
    assert.equal(c.name, t.name, `guild ${id}: name`);
    assert.deepEqual(c.channels, t.channels.map((x) => x.id).sort(), `guild ${id}: channels`);
    assert.deepEqual(c.roles, t.roles.map((x) => x.id).sort(), `guild ${id}: roles`);
    assert.deepEqual(c.members, t.members.map((x) => x.user.id).sort(), `guild ${id}: members`);
  }
  summary.first_ready_ms = ready.ms;
  console.log(`ok: ready in ${ready.ms} ms with ${Object.keys(ready.guilds).length} guilds, caches equal the truth`);

  // Messages, while the G node that holds shard 1 is killed -9: each arrives exactly once.
  const guildIds = Object.keys(truth);
  const identifies = (await fc.stats()).identifies;
  const victim = await ownerOf(redis, 1);
  assert.ok(victim >= 0, 'shard 1 has an owner');
  const { sent, done } = sendMessages(fc, guildIds, 'js-', 5000);
  await sleep(1500);
  g.kill(victim);
  await done;
  const deadline = Date.now() + 15000;
  const got = () => bot.lines.filter((o) => o.message?.startsWith('js-')).map((o) => o.message);
  while (got().length < sent.length && Date.now() < deadline) await sleep(100);
  const received = got();
  assert.equal(new Set(received).size, received.length, 'no message twice');
  assert.deepEqual([...received].sort(), [...sent].sort(), 'no message missing');
  assert.equal((await fc.stats()).identifies, identifies, 'G resumed the killed node\'s sessions');
  summary.messages = sent.length;
  console.log(`ok: ${sent.length} messages exactly once across a kill -9 of node ${victim} (shard 1's)`);
  await g.restart(victim);

  // Presence, member requests and voice through the proxy.
  bot.send({ do: 'presence', name: 'js-proxy-presence' });
  for (let i = 0; ; ++i) {
    const received = await fc.get('received');
    if (JSON.stringify(received).includes('js-proxy-presence')) break;
    assert.ok(i < 100, 'the presence update reached g-fakecord');
    await sleep(100);
  }
  const guild = guildIds[0];
  bot.send({ do: 'members', guild, users: truth[guild].members.map((x) => x.user.id) });
  const { members } = await bot.wait((o) => o.members && o.guild === guild);
  assert.deepEqual(members, truth[guild].members.map((x) => x.user.id).sort(), 'members.fetch() returns every member asked for');
  const voice = truth[guild].channels.find((c) => c.type === 2);
  assert.ok(voice, 'the guild has a voice channel');
  bot.send({ do: 'voice', guild, channel: voice.id });
  const state = await bot.wait((o) => o.raw === 'VOICE_STATE_UPDATE' && o.d.channel_id === voice.id);
  const server = await bot.wait((o) => o.raw === 'VOICE_SERVER_UPDATE' && o.d.guild_id === guild);
  assert.ok(state.d.session_id && server.d.token && server.d.endpoint, 'voice state and server updates reach the bot');
  console.log('ok: presence reached g-fakecord; members.fetch() returned every member; voice state and server updates arrived');

  // The bot process dies and starts again: ready in seconds, and Discord saw no identify.
  const before = (await fc.stats()).identifies;
  bot.proc.kill('SIGKILL');
  bot = startBot();
  const again = (await bot.wait((o) => o.ready)).ready;
  assert.equal(Object.keys(again.guilds).length, guildIds.length);
  assert.equal((await fc.stats()).identifies, before, 'a restarted bot costs Discord no identify');
  assert.ok(again.ms < 10000, `ready again within 10 s (${again.ms} ms)`);
  summary.restart_ready_ms = again.ms;
  console.log(`ok: the bot killed and started again was ready in ${again.ms} ms; identifies at g-fakecord unchanged`);
  console.log(JSON.stringify(summary));
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  bot?.proc.kill('SIGKILL');
  world.stop();
  balancer.close();
  setTimeout(() => process.exit(), 1000);
}
