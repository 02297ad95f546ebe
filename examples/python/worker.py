#!/usr/bin/python3
"""A G backend worker on the g_worker package (clients/python): reads g:<group>:events through a consumer group
(redeliveries dropped, a dead consumer's entries reclaimed), counts events by type, acknowledges them, and sends one
presence update through shard 0, awaiting G's answer. See docs/workers.md.

Prints one JSON summary line on stdout when it exits; everything else goes to stderr. Needs redis-py (Debian
python3-redis: run it with /usr/bin/python3).
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from g_worker import CommandRejected, StreamWorker  # noqa: E402  (pip install ./clients/python also works)

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

worker = StreamWorker(r, group=args.group, consumer_group=cg, consumer=me, claim_idle_ms=60000)


def handle(e):
    stats["events"] += 1
    stats["by_type"][e.t] = stats["by_type"].get(e.t, 0) + 1
    # Parse d only for what this worker acts on: most events are just counted.
    if args.quiet or e.t not in ("MESSAGE_CREATE", "READY"):
        return
    try:
        d = e.json()
    except ValueError:
        return log(f"shard {e.shard} seq {e.seq}: d is not JSON ({e.t})")  # a poison entry must not stop the worker
    if e.t == "READY":
        log(f"shard {e.shard}: new session {d.get('session_id')} (node {e.node})")
    else:
        log(f"shard {e.shard} seq {e.seq}: message in {d.get('channel_id')} from "
            f"{(d.get('author') or {}).get('username')}: {d.get('content')}")


def send_presence():
    # Presence is per connection, not per guild: a real bot sends it through every shard (worker.send_to_all).
    d = {"since": None, "activities": [{"name": "G example worker", "type": 0}], "status": "online", "afk": False}
    try:
        answer = worker.send_command(0, 3, d)
    except (CommandRejected, TimeoutError) as e:
        return log(f"presence update not sent: {e}")
    stats["command_sent"], stats["command_id"] = True, answer["id"]
    log(f"presence update {answer['id']} sent by shard 0 (node {answer['node']})")


stopping = joined = False


def stop(*_):
    global stopping
    stopping = True
    worker.stopped = True


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)

timed_out = False


def time_up():
    global timed_out
    timed_out = True
    worker.stopped = True


try:
    worker.start()
    joined = True
    log(f"consumer {me} of group {cg} on {stream} at {where}")
    if args.timeout > 0:
        timer = threading.Timer(args.timeout, time_up)
        timer.daemon = True
        timer.start()
    asked = False
    for e in worker.events():
        handle(e)
        # Acknowledge after the work: a crash in between means redelivery (at least once), never a loss.
        stats["acked"] += worker.ack(e)
        stats["duplicates"] = worker.stats["duplicates"]
        if not asked:
            asked = True
            send_presence()
        if (args.max_events > 0 and stats["acked"] >= args.max_events and worker.unhanded == 0) or stopping:
            break  # having finished what was read
    if timed_out and args.max_events > 0 and stats["acked"] < args.max_events:
        finish(1, f"timeout: {stats['acked']} of {args.max_events} events acknowledged in {args.timeout:g} s")
    finish(0)
except (redis.ConnectionError, redis.TimeoutError) as e:
    finish(2, f"{'lost' if joined else 'cannot reach'} Redis at {where}: {e}")
except redis.RedisError as e:
    finish(2, f"Redis at {where}: {e}")
