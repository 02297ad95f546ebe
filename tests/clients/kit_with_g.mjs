// The test kit (clients/testkit/node) with G in between: g-fakecord, a redis-server and a g-actor node started by
// the kit; generated events reach G's stream. Exit 0 when they do.
import Redis from 'ioredis';
import { startFakecord, startG } from '../../clients/testkit/node/index.mjs';

const fc = await startFakecord({ args: ['--guilds', '4', '--rate', '100'] });
const g = await startG(fc);
const redis = new Redis({ port: g.redisPort, maxRetriesPerRequest: 1 });
let n = 0;
for (let i = 0; i < 100 && n < 20; ++i) {
  n = await redis.xlen(g.stream);
  await new Promise((r) => setTimeout(r, 100));
}
redis.disconnect();
g.stop();
fc.stop();
console.log(JSON.stringify({ stream_entries: n }));
process.exit(n >= 20 ? 0 : 1);
