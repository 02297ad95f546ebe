// An example bot written with discord.js, unchanged by G: "!ping" answers "pong" (a reply), and the slash command
// /echo says its text back. Its tests (bot.test.mjs) run it against g-fakecord with g-fakecord-kit.
import { Client, Events, GatewayIntentBits } from 'discord.js';

export const commands = [
  { name: 'echo', description: 'Say something back',
    options: [{ type: 3, name: 'text', description: 'What to say', required: true }] },
];

// `api`: the REST base (https://discord.com/api by default; g-fakecord's in tests).
export function createBot({ api } = {}) {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    ...(api ? { rest: { api } } : {}),
  });
  client.once(Events.ClientReady, async (c) => {
    await c.application.commands.set(commands);  // PUT /applications/{id}/commands
  });
  client.on(Events.MessageCreate, async (message) => {
    if (message.author.bot) return;
    if (message.content === '!ping') await message.reply('pong');
  });
  client.on(Events.InteractionCreate, async (interaction) => {
    if (!interaction.isChatInputCommand() || interaction.commandName !== 'echo') return;
    await interaction.reply(interaction.options.getString('text', true));
  });
  return client;
}

if (import.meta.url === `file://${process.argv[1]}`) await createBot().login(process.env.BOT_TOKEN);
