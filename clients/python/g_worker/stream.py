"""A G stream worker: the event stream through a consumer group (entries a dead consumer left are reclaimed,
redeliveries dropped by (shard, seq)), the shard of a guild, and gateway commands sent through commands:<shard>
with their answer awaited on command_results. docs/workers.md describes the contract.

    import redis
    from g_worker import StreamWorker
    w = StreamWorker(redis.Redis(decode_responses=True), consumer_group="bot")
    w.start()
    for e in w.events():
        ... e.t, e.json() ...
        w.ack(e)

The client must use decode_responses=True.
"""
import json
import os
import socket
import time


def shard_of(guild_id, shard_count):
    """The shard that receives a guild's events (Discord: (guild_id >> 22) % shard_count)."""
    return (int(guild_id) >> 22) % int(shard_count)


class CommandRejected(Exception):
    def __init__(self, answer):
        super().__init__(f"command {answer['shard']}/{answer['id']} rejected ({answer['reason']}): {answer['detail']}")
        self.answer = answer


class Event:
    __slots__ = ("id", "shard", "seq", "t", "d", "node", "ts", "prev")

    def __init__(self, entry_id, f):
        self.id, self.shard, self.seq, self.t, self.d = entry_id, int(f["shard"]), int(f["seq"]), f["t"], f["d"]
        self.node, self.ts, self.prev = f.get("node"), int(f.get("ts") or 0), f.get("prev")

    def json(self):
        return json.loads(self.d)


class StreamWorker:
    def __init__(self, redis, group="g", consumer_group="workers", consumer=None, claim_idle_ms=60000, count=100,
                 block_ms=1000):
        self.redis, self.group, self.consumer_group = redis, group, consumer_group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms, self.count, self.block_ms = claim_idle_ms, count, block_ms
        self.prefix = f"g:{group}:"
        self.stream = self.prefix + "events"
        self.stats = {"events": 0, "duplicates": 0, "reclaimed": 0, "acked": 0}
        self.stopped = False
        self.unhanded = 0  # entries of the current read not handed on yet
        self._seen = {}  # shard -> {seq: entry id} of its current session

    def start(self):
        """Joins the consumer group (created at the stream's oldest entry if missing)."""
        try:
            self.redis.xgroup_create(self.stream, self.consumer_group, id="0", mkstream=True)
        except Exception as e:  # redis.ResponseError; the group exists: join it
            if not str(e).startswith("BUSYGROUP"):
                raise

    def events(self):
        """Events, in order for each shard, each once (Event: id, shard, seq, t, d as JSON text, node, ts, prev,
        json()). Entries a consumer left unacknowledged for claim_idle_ms are taken over first, then as often."""
        last_claim = 0.0
        while not self.stopped:
            if time.monotonic() - last_claim >= self.claim_idle_ms / 1000:
                last_claim = time.monotonic()
                cursor = "0-0"
                while True:
                    reply = self.redis.xautoclaim(self.stream, self.consumer_group, self.consumer, self.claim_idle_ms,
                                                  cursor, count=self.count)
                    cursor, entries = reply[0], reply[1]
                    self.stats["reclaimed"] += len(entries)
                    yield from self._hand(entries)
                    if cursor == "0-0" or self.stopped:
                        break
            r = self.redis.xreadgroup(self.consumer_group, self.consumer, {self.stream: ">"}, count=self.count,
                                      block=self.block_ms)
            for _stream, entries in r or []:
                yield from self._hand(entries)

    def _hand(self, entries):
        """The entries of one read, in order; `unhanded` counts those still to come, so that a worker that stops
        early can first finish what it read (what it leaves stays pending and is reclaimed later, never lost)."""
        for i, (entry_id, fields) in enumerate(entries):
            self.unhanded = len(entries) - i - 1
            e = self._accept(entry_id, fields)
            if e:
                yield e
        self.unhanded = 0

    def _accept(self, entry_id, fields):
        """An event to hand on, or None: a redelivery of one already handed on, or an entry trimmed from the stream
        while pending (acknowledged here: only the acknowledgement was left to do)."""
        if entry_id is None:
            return None
        if not fields:
            self.ack(entry_id)
            return None
        shard, seq = int(fields["shard"]), int(fields["seq"])
        seen = self._seen.get(shard)
        if seen is not None and seen.get(seq) == entry_id:
            self.stats["duplicates"] += 1
            self.ack(entry_id)
            return None
        if seen is None or fields.get("t") == "READY" or seq in seen:  # a new session: seq starts again
            seen = self._seen[shard] = {}
        seen[seq] = entry_id
        if len(seen) > 100000:
            del seen[next(iter(seen))]
        self.stats["events"] += 1
        return Event(entry_id, fields)

    def ack(self, *items):
        """Acknowledges entries (ids or Events): after the work, so that a crash means a redelivery, never a loss."""
        ids = [x if isinstance(x, str) else x.id for x in items]
        n = self.redis.xack(self.stream, self.consumer_group, *ids)
        self.stats["acked"] += n
        return n

    def shard_count(self):
        n = int(self.redis.get(self.prefix + "shard_count") or 0)
        if n <= 0:
            raise RuntimeError(f"{self.prefix}shard_count is not set: no G node has registered yet")
        return n

    def send_command(self, shard, op, d, timeout=10.0):
        """Sends a gateway command (op 3, 4, 8, 31 or 43) through a shard and returns G's answer once it was sent;
        raises CommandRejected (answer["reason"]: unknown_op, bad_json, too_large, no_budget, not_ready,
        unknown_shard) or TimeoutError."""
        return self._send([(shard, op, d)], timeout)[0]

    def send_to_guild(self, guild_id, op, d, timeout=10.0):
        return self.send_command(shard_of(guild_id, self.shard_count()), op, d, timeout)

    def send_to_all(self, op, d, timeout=10.0):
        """The same command through every shard (a presence, say): the answers in shard order."""
        return self._send([(s, op, d) for s in range(self.shard_count())], timeout)

    def _send(self, commands, timeout):
        results = self.prefix + "command_results"
        last = self.redis.xrevrange(results, count=1)
        after = last[0][0] if last else "0-0"  # answers come after this: not "$", an answer may come first
        waiting = {}
        for shard, op, d in commands:
            entry_id = self.redis.xadd(f"{self.prefix}commands:{shard}",
                                       {"op": str(op), "d": d if isinstance(d, str) else json.dumps(d)})
            waiting[f"{shard}/{entry_id}"] = None
        deadline = time.monotonic() + timeout
        while any(v is None for v in waiting.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [k for k, v in waiting.items() if v is None]
                raise TimeoutError(f"commands {missing}: no answer within {timeout} s (is a G node running the shard?)")
            r = self.redis.xread({results: after}, block=max(1, int(min(left, 1.0) * 1000)), count=1000)
            for _stream, entries in r or []:
                for entry_id, fields in entries:
                    after = entry_id
                    key = f"{fields['shard']}/{fields['id']}"
                    if key in waiting:
                        waiting[key] = fields
        answers = list(waiting.values())
        for a in answers:
            if a["status"] != "sent":
                raise CommandRejected(a)
        return answers
