#!/usr/bin/python3
"""A G backend worker: reads g:<group>:events through a consumer group, drops redeliveries, counts events by type,
acknowledges them, and sends one presence update back through g:<group>:commands:0. See docs/workers.md.

Prints one JSON summary line on stdout when it exits; everything else goes to stderr. Needs redis-py (Debian
python3-redis: run it with /usr/bin/python3).
"""
import argparse
import json
import os
import signal
import socket
import sys
import time

import redis

p = argparse.ArgumentParser(description="G example worker (see docs/workers.md)")
p.add_argument("--redis-host", default="127.0.0.1")
p.add_argument("--redis-port", type=int, default=6379)
p.add_argument("--redis-password", default=os.environ.get("REDIS_PASS"))
p.add_argument("--group", default="g", help="G group: keys are g:<group>:…")
p.add_argument("--consumer-group", default="workers")
p.add_argument("--consumer", default=f"{socket.gethostname()}-{os.getpid()}")
p.add_argument("--max-events", type=int, default=0, help="exit 0 once this many events are acknowledged")
p.add_argument("--timeout", type=float, default=0,
               help="seconds; exit 1 if --max-events is not reached by then (alone: run this long, exit 0)")
p.add_argument("--quiet", action="store_true")
args = p.parse_args()

prefix = f"g:{args.group}:"
stream, cg, me = prefix + "events", args.consumer_group, args.consumer
where = f"{args.redis_host}:{args.redis_port}"
stats = {"events": 0, "acked": 0, "duplicates": 0, "by_type": {}, "command_sent": False, "command_id": None}


def log(msg):
    if not args.quiet:
        print(f"worker: {msg}", file=sys.stderr, flush=True)


def finish(code, why=None):
    if why:
        print(f"worker: {why}", file=sys.stderr)
    print(json.dumps(stats, separators=(",", ":")), flush=True)
    sys.exit(code)


# No reconnect loop: a worker that lost Redis exits (2) and its supervisor restarts it; whatever it had not
# acknowledged stays pending and is reclaimed by XAUTOCLAIM, so nothing is lost.
r = redis.Redis(host=args.redis_host, port=args.redis_port, password=args.redis_password, decode_responses=True,
                socket_connect_timeout=3, socket_timeout=10, retry_on_timeout=False)

# Per shard: seq → stream entry id of the current session. The same (shard, seq) under the same entry id is a
# redelivery; under another id it is a new session whose READY went to another consumer of the group.
seen = {}
SEEN_MAX = 100000  # per shard: redeliveries are recent, so old seqs can go


def handle(entry_id, f):
    shard, seq, t = int(f["shard"]), int(f["seq"]), f["t"]
    s = seen.get(shard)
    if s is not None and s.get(seq) == entry_id:
        stats["duplicates"] += 1
        return
    if s is None or t == "READY" or seq in s:  # a new session: seq starts again
        s = seen[shard] = {}
    s[seq] = entry_id
    if len(s) > SEEN_MAX:
        del s[next(iter(s))]  # dicts keep insertion order: the oldest goes
    stats["events"] += 1
    stats["by_type"][t] = stats["by_type"].get(t, 0) + 1
    # Parse d only for what this worker acts on: most events are just counted.
    if args.quiet or t not in ("MESSAGE_CREATE", "READY"):
        return
    try:
        d = json.loads(f["d"])
    except (KeyError, ValueError):
        return log(f"shard {shard} seq {seq}: d is not JSON ({t})")  # a poison entry must not stop the worker
    if t == "READY":
        log(f"shard {shard}: new session {d.get('session_id')} (node {f.get('node')})")
    else:
        log(f"shard {shard} seq {seq}: message in {d.get('channel_id')} from "
            f"{(d.get('author') or {}).get('username')}: {d.get('content')}")


def send_presence():
    # Presence is per connection, not per guild: a real bot sends it to every shard (0..shard_count-1).
    d = {"since": None, "activities": [{"name": "G example worker", "type": 0}], "status": "online", "afk": False}
    stats["command_id"] = r.xadd(prefix + "commands:0", {"op": "3", "d": json.dumps(d, separators=(",", ":"))})
    stats["command_sent"] = True
    log(f"presence update queued as {stats['command_id']} on {prefix}commands:0")


def consume(entries):
    ids = []
    for entry_id, fields in entries:
        if entry_id is None:
            continue
        if fields:  # empty: trimmed from the stream while pending; only the ack is left to do
            handle(entry_id, fields)
        ids.append(entry_id)
    if not ids:
        return
    # Acknowledge after the work: a crash in between means redelivery (at least once), never a loss.
    stats["acked"] += r.xack(stream, cg, *ids)
    if stats["events"] > 0 and not stats["command_sent"]:
        send_presence()


stopping = joined = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)

try:
    try:
        r.xgroup_create(stream, cg, id="0", mkstream=True)
    except redis.ResponseError as e:
        if not str(e).startswith("BUSYGROUP"):
            raise  # BUSYGROUP: the group exists, join it
    joined = True
    log(f"consumer {me} of group {cg} on {stream} at {where}")
    started, last_claim = time.monotonic(), None
    while not stopping:
        if args.max_events > 0 and stats["acked"] >= args.max_events:
            finish(0)
        if args.timeout > 0 and time.monotonic() - started >= args.timeout:
            if args.max_events > 0:
                finish(1, f"timeout: {stats['acked']} of {args.max_events} events acknowledged in {args.timeout:g} s")
            finish(0)
        # Entries another consumer read but never acknowledged for 60 s (it crashed): take them over. Also done
        # every minute, since consumers of a group can die at any time.
        if last_claim is None or time.monotonic() - last_claim >= 60:
            last_claim, cursor = time.monotonic(), "0-0"
            while True:
                reply = r.xautoclaim(stream, cg, me, 60000, start_id=cursor, count=100)
                cursor, entries = reply[0], reply[1]
                if entries:
                    log(f"reclaimed {len(entries)} pending entries")
                consume(entries)
                if cursor == "0-0" or stopping:
                    break
        for _, entries in r.xreadgroup(cg, me, {stream: ">"}, count=100, block=1000) or []:
            consume(entries)
    finish(0)
except (redis.ConnectionError, redis.TimeoutError) as e:
    finish(2, f"{'lost' if joined else 'cannot reach'} Redis at {where}: {e}")
except redis.RedisError as e:
    finish(2, f"Redis at {where}: {e}")
