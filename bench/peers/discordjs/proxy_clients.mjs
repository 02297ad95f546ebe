// g-bench proxy's bots (bench/proxy_bench.cpp). Two modes:
//
//   --mode ready --rest URL --token T [--compress zlib-stream|none]
//     An unmodified @discordjs/ws WebSocketManager (every shard /gateway/bot names, in this one process) connects;
//     prints {"ms": time from connect() to the last GUILD_CREATE, "guilds": n, "shards": n} and exits.
//
//   --mode idle --gateway WS --token T --shards N --count C [--compress zlib-stream|none]
//     C raw gateway connections (the `ws` package, as libraries use it), connection i on shard i % N; each
//     identifies, heartbeats, and counts what it receives without decoding it. Prints {"connected": c} once all
//     are ready (READY seen), then {"frames": total} every second; stops on SIGTERM.
import { parseArgs } from 'node:util';
import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import WebSocket from 'ws';

const { values: a } = parseArgs({
  options: {
    mode: { type: 'string' }, rest: { type: 'string' }, gateway: { type: 'string' }, token: { type: 'string' },
    shards: { type: 'string', default: '1' }, count: { type: 'string', default: '1' },
    compress: { type: 'string', default: 'zlib-stream' }, intents: { type: 'string', default: String(1 | 512 | 32768) },
  },
});
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const intents = Number(a.intents);

if (a.mode === 'ready') {
  const rest = new REST({ api: a.rest, version: '10' }).setToken(a.token);
  const manager = new WebSocketManager({ token: a.token, intents, rest,
    compression: a.compress === 'zlib-stream' ? CompressionMethod.ZlibNative : null });
  let expected = 0, created = 0, last = 0;
  const start = Date.now();
  manager.on(WebSocketShardEvents.Dispatch, (p) => {
    if (p.t === 'READY') expected += p.d.guilds.length;
    if (p.t === 'GUILD_CREATE') { ++created; last = Date.now(); }
  });
  await manager.connect();
  const shards = await manager.getShardCount();
  for (let readies = 0; ; await new Promise((r) => setTimeout(r, 20))) {
    readies = [...(await manager.fetchStatus()).values()].filter((s) => s === 3).length;
    if (readies === shards && created >= expected && expected > 0) break;
    if (Date.now() - start > 600000) { process.stderr.write('proxy_clients: not ready within 600 s\n'); process.exit(1); }
  }
  say({ ms: last - start, guilds: created, shards });
  await manager.destroy();
  process.exit(0);
} else if (a.mode === 'idle') {
  const n = Number(a.count), shards = Number(a.shards);
  let ready = 0, frames = 0;
  const sockets = [];
  for (let i = 0; i < n; ++i) {
    const compress = a.compress === 'none' ? '' : `&compress=${a.compress}`;
    const ws = new WebSocket(`${a.gateway}/?v=10&encoding=json${compress}`, { perMessageDeflate: false });
    let beat;
    let identified = false;
    ws.on('message', (data, binary) => {
      ++frames;
      if (!identified) {  // HELLO, then READY: the first frames are small; inflate is not needed to count them
        identified = true;
        beat = setInterval(() => ws.readyState === 1 && ws.send('{"op":1,"d":null}'), 30000);
        ws.send(JSON.stringify({ op: 2, d: { token: a.token, intents, shard: [i % shards, shards],
                                             properties: { os: 'linux', browser: 'bench', device: 'bench' } } }));
      } else if (frames && !ws.readied) {
        ws.readied = true;
        if (++ready === n) say({ connected: n });
      }
    });
    ws.on('close', (code) => { clearInterval(beat); if (code !== 1000 && code !== 1005) process.stderr.write(`proxy_clients: closed ${code}\n`); });
    ws.on('error', (e) => process.stderr.write(`proxy_clients: ${e.message}\n`));
    sockets.push(ws);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 50));
  }
  setInterval(() => say({ frames }), 1000);
  process.on('SIGTERM', () => { for (const s of sockets) s.close(1000); setTimeout(() => process.exit(0), 200); });
} else {
  process.stderr.write('usage: proxy_clients.mjs --mode ready|idle …\n');
  process.exit(2);
}
