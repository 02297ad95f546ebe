#!/usr/bin/python3
"""g-bench peer: discord.py's AutoShardedClient does what G does with the gateway.

It connects N shards (all in this one process and one asyncio loop, as AutoShardedClient does) and XADDs every
dispatch to g:<group>:events with the fields G writes:

    XADD g:<group>:events MAXLEN ~ 1000000 * shard <id> seq <s> t <name> d <JSON of d> node <name> ts <ms received>

Run it with /usr/bin/python3: Debian's python3-discord (2.2.2) and python3-redis (4.3.4) are only visible to the
system interpreter. XADDs go out as redis-py pipelines (transaction=False) from a writer thread, one every ~1 ms with
whatever arrived meanwhile (see ThreadSink for why not redis.asyncio, which --redis asyncio still offers).

Where the dispatches come from. discord.py's public raw hook, on_socket_raw_receive (enable_debug_events=True), hands
out the decompressed text but not the shard it came from, and goes through Client.dispatch, which creates one asyncio
task per payload. The shard is part of the stream contract, so the peer instead replaces DiscordWebSocket.log_receive,
the no-op hook that DiscordWebSocket.received_message calls with that same decompressed text on the shard's own
websocket (enable_debug_events would swap it for the debug one, so it stays off). The peer parses the text once
(discord.utils._from_json, the parser discord.py itself uses), keeps op 0 and re-serializes `d` compactly.

What discord.py does anyway, and the peer cannot switch off while it is still discord.py:
- it parses every payload a second time for itself (received_message: utils._from_json after log_receive);
- it runs its parser for every event: READY and GUILD_CREATE build Guild objects with channels and roles (the guild
  cache cannot be turned off), MESSAGE_CREATE builds a Message (author User/Member, channel lookup), typing, reaction,
  presence and member updates build their objects, and Client.dispatch looks for listeners for each;
- it scans its wait_for listeners for every dispatch, ticks the heartbeat handler, and inflates with zlib in Python;
- it keeps a GUILD_CREATE wait after READY before on_ready (guild_ready_timeout) - the peer's READY line does not
  wait for it.
What it keeps off: member cache (MemberCacheFlags.none()), member chunking at startup (chunk_guilds_at_startup=False),
the message cache (max_messages=None), debug events.

Identify pacing. discord.py 2.2 ignores max_concurrency: its default before_identify_hook sleeps 5 s before every
IDENTIFY but the first, so 100 shards take ~8 minutes to start. The documented way round it is to override
before_identify_hook; the peer does, pacing identifies per max_concurrency bucket (shard_id % max_concurrency, 5 s
apart within a bucket) as Discord asks, with max_concurrency from /gateway/bot. --stock-identify keeps discord.py's.

Usage: /usr/bin/python3 peer.py --rest http://127.0.0.1:PORT/api --token T --shards N --intents I --redis-port P
                                --group g --name peer-name [--gateway ws://...] [--redis-host 127.0.0.1]
                                [--stock-identify] [--ready-timeout-s 600] [--redis thread|asyncio] [--progress]
stdout: "READY <n>" once every shard got its READY; on SIGTERM/SIGINT the shards close, the pipeline is flushed and
one JSON line {"events": n, "xadds": n} follows; exit 0. Errors: one line on stderr, exit 1 (2 for bad usage).
"""
import argparse
import asyncio
import collections
import json
import signal
import sys
import threading
import time

import discord
import discord.http
import discord.utils
import redis
import redis.asyncio as aioredis
import redis.exceptions
import yarl
from discord.gateway import DiscordWebSocket

MAXLEN = 1000000
IDENTIFY_SPACING_S = 5.1  # Discord: one IDENTIFY per bucket per 5 s; a little margin for the clock on the other end


def die(message, code=1):
    sys.stderr.write(f"discordpy peer: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def parse_args():
    class Parser(argparse.ArgumentParser):
        def error(self, message):
            die(message, 2)

    p = Parser(description="discord.py peer for g-bench")
    p.add_argument("--rest", required=True, help="g-fakecord REST base, e.g. http://127.0.0.1:PORT/api")
    p.add_argument("--gateway", help="gateway URL (default: the url of /gateway/bot)")
    p.add_argument("--token", required=True)
    p.add_argument("--shards", required=True, type=int)
    p.add_argument("--intents", required=True, type=int)
    p.add_argument("--redis-host", default="127.0.0.1")
    p.add_argument("--redis-port", required=True, type=int)
    p.add_argument("--group", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--stock-identify", action="store_true", help="discord.py's own 5 s sleep before every IDENTIFY")
    p.add_argument("--ready-timeout-s", type=float, default=600.0)
    p.add_argument("--redis", choices=("thread", "asyncio"), default="thread",
                   help="XADD from a writer thread (default) or from redis.asyncio on the bot's loop")
    p.add_argument("--progress", action="store_true", help="every second, events/xadds/pending on stderr")
    a = p.parse_args()
    if a.shards < 1:
        die(f"--shards must be positive, not {a.shards}", 2)
    if a.intents < 0:
        die(f"--intents must be non-negative, not {a.intents}", 2)
    return a


class Sink:
    """What both ways of writing share: the XADD arguments, the counters, the error bookkeeping."""

    def __init__(self, key, node):
        self.key = key
        self.node = node
        self.events = 0
        self.xadds = 0
        self.errors = 0
        self.first_error = None
        self.closed = False

    def command(self, shard, seq, t, d):
        return ("XADD", self.key, "MAXLEN", "~", MAXLEN, "*", "shard", shard, "seq", seq, "t", t,
                "d", d, "node", self.node, "ts", int(time.time() * 1000))

    def count(self, results):
        for res in results:
            if isinstance(res, Exception):
                self.errors += 1
                self.first_error = self.first_error or str(res)
            else:
                self.xadds += 1

    def failed(self, n, e):
        self.errors += n
        self.first_error = self.first_error or str(e)


class ThreadSink(Sink):
    """The default. A writer thread with a blocking redis-py client: every ~1 ms it takes what the loop queued and
    sends it as one pipeline(transaction=False). The thread blocks in the socket calls with the GIL released, so a
    pipeline goes out and its replies come back however long the asyncio loop's turns get; it still shares the GIL
    (and the core) with discord.py for packing commands and parsing replies.

    Why not redis.asyncio (kept as --redis asyncio): a pipeline of N XADDs needs several loop turns (write in chunks
    as the socket drains, read the replies in chunks), and under load one turn runs every shard task through all it
    has buffered, so with 100 shards the XADDs fell to ~1,300/s while discord.py still parsed ~14,000 payloads/s:
    the peer would look slower than it is. (A loop turn gets that long because aiohttp reads up to 256 KiB from
    every readable socket per turn and discord.py then handles all of it before yielding: with 100 shards behind,
    turns of several seconds were measured; --progress prints the loop lag.)"""

    def __init__(self, host, port, key, node):
        super().__init__(key, node)
        self.r = redis.Redis(host=host, port=port)
        self.q = collections.deque()  # append / popleft are atomic: no lock between the loop and the writer
        self.busy = False
        self.running = True
        self.thread = None

    async def start(self):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.r.ping)
        self.thread = threading.Thread(target=self.run, name="redis-writer", daemon=True)
        self.thread.start()

    def add(self, shard, seq, t, d):
        if self.closed:
            return
        self.events += 1
        self.q.append(self.command(shard, seq, t, d))

    def pending(self):
        return len(self.q)

    def run(self):
        q = self.q
        while self.running or q:
            n = len(q)
            if n == 0:
                time.sleep(0.001)
                continue
            self.busy = True
            try:
                pipe = self.r.pipeline(transaction=False)
                for _ in range(n):
                    pipe.execute_command(*q.popleft())
                self.count(pipe.execute(raise_on_error=False))
            except (redis.exceptions.RedisError, OSError) as e:
                self.failed(n, e)
            finally:
                self.busy = False

    async def drain(self, timeout):
        deadline = time.monotonic() + timeout
        while (self.q or self.busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self.closed = True  # from here on nothing is counted that could not be written
        self.running = False
        return not (self.q or self.busy)

    async def close(self):
        self.running = False
        self.r.close()


class AsyncSink(Sink):
    """--redis asyncio: redis.asyncio on the bot's own loop. Collects XADDs and sends them as one pipeline per loop
    turn; one pipeline in flight at a time, so what arrives while it is out goes in the next one (and the stream keeps
    each shard's order). Fine while the peer keeps up; under overload see ThreadSink."""

    def __init__(self, host, port, key, node):
        super().__init__(key, node)
        self.r = aioredis.Redis(host=host, port=port)
        self.q = []
        self.busy = False
        self.wake = None
        self.task = None

    async def start(self):
        await self.r.ping()
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    def add(self, shard, seq, t, d):
        if self.closed:
            return
        self.events += 1
        self.q.append(self.command(shard, seq, t, d))
        self.wake.set()

    def pending(self):
        return len(self.q)

    async def run(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.q:
                batch, self.q = self.q, []
                self.busy = True
                try:
                    pipe = self.r.pipeline(transaction=False)
                    for cmd in batch:
                        pipe.execute_command(*cmd)
                    self.count(await pipe.execute(raise_on_error=False))
                except (redis.exceptions.RedisError, OSError) as e:
                    self.failed(len(batch), e)
                finally:
                    self.busy = False

    async def drain(self, timeout):
        deadline = time.monotonic() + timeout
        self.wake.set()
        while (self.q or self.busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self.closed = True  # from here on nothing is counted that could not be written
        return not (self.q or self.busy)

    async def close(self):
        self.task.cancel()
        await self.r.close()


async def main(a):
    loop = asyncio.get_running_loop()
    sink_class = ThreadSink if a.redis == "thread" else AsyncSink
    sink = sink_class(a.redis_host, a.redis_port, f"g:{a.group}:events", a.name)
    try:
        await sink.start()
    except (redis.exceptions.RedisError, OSError) as e:
        die(f"cannot connect to Redis at {a.redis_host}:{a.redis_port}: {e}")

    ready_shards = set()
    all_ready = asyncio.Event()
    from_json = discord.utils._from_json
    to_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def log_receive(ws, raw, /):
        msg = from_json(raw)
        if msg.get("op") != 0:
            return
        t = msg.get("t")
        sink.add(ws.shard_id, msg.get("s"), t, to_json(msg.get("d")))
        if t == "READY" and ws.shard_id not in ready_shards:
            ready_shards.add(ws.shard_id)
            if len(ready_shards) == a.shards:
                all_ready.set()

    DiscordWebSocket.log_receive = log_receive

    discord.http.Route.BASE = f"{a.rest.rstrip('/')}/v{discord.http.INTERNAL_API_VERSION}"
    if a.gateway:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(a.gateway)

    intents = discord.Intents.none()
    intents.value = a.intents

    class PeerClient(discord.AutoShardedClient):
        max_concurrency = 1
        next_identify = {}

        async def setup_hook(self):
            # After login, before any shard connects. With shard_count given, discord.py connects to DEFAULT_GATEWAY.
            info = await self.http.request(discord.http.Route("GET", "/gateway/bot"))
            self.max_concurrency = max(1, int(info.get("session_start_limit", {}).get("max_concurrency", 1)))
            if not a.gateway:
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(info["url"])

        async def before_identify_hook(self, shard_id, *, initial=False):
            if a.stock_identify:
                return await super().before_identify_hook(shard_id, initial=initial)
            bucket = (shard_id or 0) % self.max_concurrency
            now = loop.time()
            at = max(now, self.next_identify.get(bucket, 0.0))
            self.next_identify[bucket] = at + IDENTIFY_SPACING_S
            if at > now:
                await asyncio.sleep(at - now)

    client = PeerClient(
        intents=intents,
        shard_count=a.shards,
        member_cache_flags=discord.MemberCacheFlags.none(),
        chunk_guilds_at_startup=False,
        max_messages=None,
        enable_debug_events=False,
    )

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def run_client():
        async with client:
            await client.start(a.token)

    async def progress():
        while True:
            t0 = loop.time()
            await asyncio.sleep(1.0)
            sys.stderr.write(f"progress events={sink.events} xadds={sink.xadds} pending={sink.pending()} "
                             f"loop_lag_ms={(loop.time() - t0 - 1.0) * 1000:.0f}\n")

    progress_task = asyncio.create_task(progress()) if a.progress else None
    runner = asyncio.create_task(run_client())
    stopper = asyncio.create_task(stop.wait())
    readier = asyncio.create_task(all_ready.wait())
    try:
        done, _ = await asyncio.wait({runner, stopper, readier}, timeout=a.ready_timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if readier in done:
            print(f"READY {a.shards}", flush=True)
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        elif not done:
            die(f"{len(ready_shards)} of {a.shards} shards ready after {a.ready_timeout_s:g} s")
        if runner in done and not stop.is_set():
            exc = runner.exception()
            if exc is not None:
                die(f"the client stopped: {type(exc).__name__}: {exc}")
            die("the client stopped by itself")
    finally:
        readier.cancel()
        stopper.cancel()

    # SIGTERM / SIGINT: close the shards (close 1000), then let the last XADDs through.
    try:
        await asyncio.wait_for(client.close(), 5.0)
    except Exception:
        pass
    runner.cancel()
    drained = await sink.drain(30.0)
    if not drained:
        sys.stderr.write(f"discordpy peer: {sink.pending()} XADDs still unsent at exit\n")
    if sink.errors:
        sys.stderr.write(f"discordpy peer: {sink.errors} XADDs failed, first: {sink.first_error}\n")
    if progress_task:
        progress_task.cancel()
    await sink.close()
    print(json.dumps({"events": sink.events, "xadds": sink.xadds}), flush=True)
    return 1 if sink.errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
