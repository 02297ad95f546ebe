// An ordinary discord.js bot, unmodified but for its REST base: G's proxy. It prints what it sees as JSON lines and
// takes commands as JSON lines on stdin, so the test can kill -9 it and start it again.
//   argv: token api   stdout: {"ready": …}, {"message": …}, {"raw": …}, {"members": …}   stdin: {"do": "presence"|"members"|"voice", …}
import { Client, GatewayIntentBits } from 'discord.js';
import { createInterface } from 'node:readline';

const [token, api] = process.argv.slice(2);
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMembers, GatewayIntentBits.GuildVoiceStates,
            GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  rest: { api },
  shards: 'auto',  // the proxy says G's shard count in /gateway/bot
});
const started = Date.now();

client.once('clientReady', () => {
  const guilds = {};
  for (const g of client.guilds.cache.values()) {
    guilds[g.id] = {
      name: g.name,
      channels: [...g.channels.cache.keys()].sort(),
      roles: [...g.roles.cache.keys()].sort(),
      members: [...g.members.cache.keys()].sort(),
    };
  }
  say({ ready: { ms: Date.now() - started, shards: client.ws.shards.size, guilds } });
});
client.on('messageCreate', (m) => say({ message: m.content, id: m.id }));
client.on('raw', (p) => {
  if (p.t === 'VOICE_STATE_UPDATE' || p.t === 'VOICE_SERVER_UPDATE') say({ raw: p.t, d: p.d });
});

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.do === 'presence') {
      client.user.setPresence({ activities: [{ name: cmd.name }], status: 'dnd' });
    } else if (cmd.do === 'members') {
      // By id: G's own chunking asked for the whole list at start, which Discord allows once per 30 s per guild.
      const members = await client.guilds.cache.get(cmd.guild).members.fetch({ user: cmd.users, force: true });
      say({ members: [...members.keys()].sort(), guild: cmd.guild });
    } else if (cmd.do === 'voice') {
      const guild = client.guilds.cache.get(cmd.guild);
      guild.shard.send({ op: 4, d: { guild_id: cmd.guild, channel_id: cmd.channel, self_mute: false, self_deaf: true } });
    }
  } catch (e) {
    say({ error: String(e) });
  }
});

await client.login(token);
