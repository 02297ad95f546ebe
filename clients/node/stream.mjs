// A G stream worker: the event stream through a consumer group (entries a dead consumer left are reclaimed,
// redeliveries dropped by (shard, seq)), the shard of a guild, and gateway commands sent through
// commands:<shard> with their answer awaited on command_results. docs/workers.md describes the contract.
//
//   import Redis from 'ioredis';
//   import { StreamWorker } from 'g-worker';
//   const w = new StreamWorker({ redis: new Redis(), consumerGroup: 'bot' });
//   await w.start();
//   for await (const e of w.events()) { … e.t, e.json() …; await w.ack(e); }
//
// `redis` is the caller's ioredis client; the worker makes two more from it (duplicate()) for the blocking reads,
// so that a waiting read never holds up the caller's commands. close() ends them.
import os from 'node:os';

// The shard that receives a guild's events (Discord: (guild_id >> 22) % shard_count).
export function shardOf(guildId, shardCount) {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

export class CommandRejected extends Error {
  constructor(answer) {
    super(`command ${answer.shard}/${answer.id} rejected (${answer.reason}): ${answer.detail}`);
    this.name = 'CommandRejected';
    this.answer = answer;
  }
}

const fieldsOf = (list) => {
  const f = {};
  for (let i = 0; i + 1 < list.length; i += 2) f[list[i]] = list[i + 1];
  return f;
};

export class StreamWorker {
  constructor({ redis, group = 'g', consumerGroup = 'workers', consumer = `${os.hostname()}-${process.pid}`,
                claimIdleMs = 60000, count = 100, blockMs = 1000 }) {
    if (!redis) throw new TypeError('StreamWorker needs { redis }: an ioredis client');
    Object.assign(this, { redis, group, consumerGroup, consumer, claimIdleMs, count, blockMs });
    this.prefix = `g:${group}:`;
    this.stream = `${this.prefix}events`;
    this.stats = { events: 0, duplicates: 0, reclaimed: 0, acked: 0 };
    this.seen = new Map();     // shard → Map(seq → entry id) of its current session
    this.waiting = new Map();  // "shard/id" → { resolve, timer } of commands awaiting their answer
    this.stopped = false;
    this.unhanded = 0;         // entries of the current read not handed on yet
  }

  // Joins the consumer group (created at the stream's oldest entry if missing).
  async start() {
    this.reader = await this.#duplicate();
    await this.redis.xgroup('CREATE', this.stream, this.consumerGroup, '0', 'MKSTREAM').catch((e) => {
      if (!String(e.message).startsWith('BUSYGROUP')) throw e;
    });
  }

  // Events, in order for each shard, each once: { id, shard, seq, t, d (raw JSON text), node, ts, prev, json() }.
  // Entries a consumer left unacknowledged for claimIdleMs are taken over first, at start and then as often.
  async *events() {
    let lastClaim = 0;
    while (!this.stopped) {
      if (Date.now() - lastClaim >= this.claimIdleMs) {
        lastClaim = Date.now();
        let cursor = '0-0';
        do {
          const [next, entries] = await this.redis.xautoclaim(this.stream, this.consumerGroup, this.consumer,
                                                              this.claimIdleMs, cursor, 'COUNT', this.count);
          this.stats.reclaimed += entries.length;
          yield* this.#hand(entries);
          cursor = next;
        } while (cursor !== '0-0' && !this.stopped);
      }
      const r = await this.reader.xreadgroup('GROUP', this.consumerGroup, this.consumer, 'COUNT', this.count,
                                             'BLOCK', this.blockMs, 'STREAMS', this.stream, '>');
      yield* this.#hand(r?.[0]?.[1] ?? []);
    }
  }

  // The entries of one read, in order; `unhanded` counts those still to come, so that a worker that stops early
  // can first finish what it read (what it leaves stays pending and is reclaimed later, never lost).
  *#hand(entries) {
    for (let i = 0; i < entries.length; i++) {
      this.unhanded = entries.length - i - 1;
      const e = this.#accept(entries[i][0], entries[i][1]);
      if (e) yield e;
    }
    this.unhanded = 0;
  }

  // An entry to hand on, or null: a redelivery of one already handed on (acknowledged here), or an entry trimmed
  // from the stream while pending (only its acknowledgement is left to do).
  #accept(id, fields) {
    if (!fields) {
      this.ack(id).catch(() => {});
      return null;
    }
    const f = fieldsOf(fields);
    const shard = Number(f.shard), seq = Number(f.seq);
    let s = this.seen.get(shard);
    if (s?.get(seq) === id) {  // the same entry again: a redelivery
      this.stats.duplicates++;
      this.ack(id).catch(() => {});
      return null;
    }
    if (!s || f.t === 'READY' || s.has(seq)) this.seen.set(shard, (s = new Map()));  // a new session: seq restarts
    s.set(seq, id);
    if (s.size > 100000) s.delete(s.keys().next().value);
    this.stats.events++;
    const d = f.d;
    return { id, shard, seq, t: f.t, d, node: f.node, ts: Number(f.ts), prev: f.prev, json: () => JSON.parse(d) };
  }

  // Acknowledges entries (or events): after the work, so that a crash means a redelivery, never a loss.
  async ack(...items) {
    const ids = items.map((x) => (typeof x === 'string' ? x : x.id));
    const n = await this.redis.xack(this.stream, this.consumerGroup, ...ids);
    this.stats.acked += n;
    return n;
  }

  async shardCount() {
    const n = Number(await this.redis.get(`${this.prefix}shard_count`));
    if (!(n > 0)) throw new Error(`${this.prefix}shard_count is not set: no G node has registered yet`);
    return n;
  }

  // Sends a gateway command (op 3, 4, 8, 31 or 43) through a shard and resolves with its answer once G has sent
  // it ({ status: 'sent', … }); rejects with CommandRejected (answer.reason: unknown_op, bad_json, too_large,
  // no_budget, not_ready, unknown_shard) or on timeout.
  async sendCommand(shard, op, d, { timeoutMs = 10000 } = {}) {
    await this.#watchAnswers();
    const id = await this.redis.xadd(`${this.prefix}commands:${shard}`, '*', 'op', String(op), 'd',
                                     typeof d === 'string' ? d : JSON.stringify(d));
    const key = `${shard}/${id}`;
    const answer = await new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(key); resolve(null); }, timeoutMs);
      this.waiting.set(key, { resolve, timer });
    });
    if (!answer) throw new Error(`command ${key}: no answer within ${timeoutMs} ms (is a G node running the shard?)`);
    if (answer.status !== 'sent') throw new CommandRejected(answer);
    return answer;
  }

  async sendToGuild(guildId, op, d, opts) {
    return this.sendCommand(shardOf(guildId, await this.shardCount()), op, d, opts);
  }

  // The same command through every shard (a presence, say): the answers in shard order; rejects if one is.
  async sendToAll(op, d, opts) {
    const n = await this.shardCount();
    return Promise.all(Array.from({ length: n }, (_, shard) => this.sendCommand(shard, op, d, opts)));
  }

  // One reader of command_results for every command awaited, from the results' last entry before the first send
  // (not '$': an answer could come before the reader's first XREAD).
  async #watchAnswers() {
    if (this.answersFrom) return this.answersFrom;
    const stream = `${this.prefix}command_results`;
    this.answersFrom = this.redis.xrevrange(stream, '+', '-', 'COUNT', 1).then((r) => r[0]?.[0] ?? '0-0');
    const from = await this.answersFrom;
    this.answers = await this.#duplicate();
    const loop = async () => {
      let last = from;
      while (!this.stopped) {
        const r = await this.answers.xread('BLOCK', 1000, 'STREAMS', stream, last).catch(() => null);
        for (const [id, fields] of r?.[0]?.[1] ?? []) {
          last = id;
          const a = fieldsOf(fields);
          const w = this.waiting.get(`${a.shard}/${a.id}`);
          if (!w) continue;
          clearTimeout(w.timer);
          this.waiting.delete(`${a.shard}/${a.id}`);
          w.resolve(a);
        }
      }
    };
    this.answersDone = loop();
  }

  // Another connection with the caller's options, connected (a lazyConnect client's copy would wait, and without
  // an offline queue fail, until asked to connect).
  async #duplicate() {
    const c = this.redis.duplicate();
    if (c.status === 'wait') await c.connect();
    return c;
  }

  async close() {
    this.stopped = true;
    await this.answersDone;
    for (const c of [this.reader, this.answers]) c?.disconnect();
  }
}
