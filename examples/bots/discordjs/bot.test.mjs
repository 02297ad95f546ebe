// The example bot against g-fakecord (g-fakecord-kit): its REST calls are what a test asserts on.
import assert from 'node:assert/strict';
import { test, after, before } from 'node:test';
import { once } from 'node:events';
import { Events } from 'discord.js';
import { startFakecord } from 'g-fakecord-kit';
import { createBot } from './bot.mjs';

let fc, bot, guild;

before(async () => {
  fc = await startFakecord({ args: ['--guilds', '2', '--members', '3'] });
  bot = createBot({ api: fc.api });
  const ready = once(bot, Events.ClientReady);
  await bot.login(fc.token);
  await ready;
  [guild] = await fc.guilds();
});

after(async () => {
  await bot?.destroy();
  fc?.stop();
});

test('the slash command is registered', async () => {
  const call = await fc.waitForRest((c) => c.method === 'PUT' && c.route === '/applications/{application.id}/commands');
  assert.equal(call.status, 200);
  assert.equal(call.json[0].name, 'echo');
});

test('!ping gets a reply: pong', async () => {
  const { id } = await fc.dispatch(guild, 'MESSAGE_CREATE', { content: '!ping' });
  const call = await fc.waitForRest((c) => c.method === 'POST' && c.route === '/channels/{channel.id}/messages' &&
                                           c.json?.content === 'pong');
  assert.equal(call.status, 200);
  assert.equal(call.json.message_reference.message_id, id);
});

test('/echo says its text back', async () => {
  const { id } = await fc.interaction({ kind: 'command', guild_id: guild, name: 'echo',
                                        options: [{ name: 'text', type: 3, value: 'hello there' }] });
  const call = await fc.waitForRest((c) => c.method === 'POST' && c.path.startsWith(`/interactions/${id}/`));
  assert.equal(call.status, 204);
  assert.equal(call.json.type, 4);
  assert.equal(call.json.data.content, 'hello there');
});
