"""The g_worker package (clients/python) against a running cluster with g-cache: events through a consumer group,
the shard of every guild event as G routed it, commands through every shard with their answers, the two
rejections a worker can cause, and the cache. One JSON line; exit 0 when every check held."""
import json
import os
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from g_worker import CommandRejected, StreamWorker, channel_permissions, member_roles, shard_of  # noqa: E402

r = redis.Redis(port=int(sys.argv[1]), decode_responses=True, socket_timeout=20)
# A consumer that read 10 entries and died: the worker reclaims them once idle for claim_idle_ms.
r.xgroup_create("g:g:events", "libcheck-py", id="0", mkstream=True)
r.xreadgroup("libcheck-py", "ghost", {"g:g:events": ">"}, count=10)
time.sleep(1.2)
w = StreamWorker(r, consumer_group="libcheck-py", consumer="c1", claim_idle_ms=1000)
w.start()
out = {"events": 0, "guild_events": 0, "wrong_shard": 0, "sent_all": 0, "sent_guild": False, "unknown_op": False,
       "unknown_shard": False, "member_roles": 0, "permissions": False}
shards = w.shard_count()
guild = None
for e in w.events():
    d = e.json()
    gid = d.get("id") if e.t in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else d.get("guild_id")
    if gid:
        out["guild_events"] += 1
        guild = guild or gid
        if shard_of(gid, shards) != e.shard:
            out["wrong_shard"] += 1
    w.ack(e)
    out["events"] += 1
    if out["events"] >= 100:
        break
presence = {"since": None, "activities": [{"name": "g-worker py", "type": 0}], "status": "online", "afk": False}
out["sent_all"] = sum(1 for a in w.send_to_all(3, presence) if a["status"] == "sent")
out["sent_guild"] = w.send_to_guild(guild, 3, presence)["status"] == "sent"


def rejected(fn):
    try:
        fn()
    except CommandRejected as e:
        return e.answer["reason"]
    return None


out["unknown_op"] = rejected(lambda: w.send_command(0, 2, {"token": "x"})) == "unknown_op"
out["unknown_shard"] = rejected(lambda: w.send_command(shards + 5, 3, presence, timeout=15)) == "unknown_shard"
me = json.loads(r.get("g:g:cache:me"))
gid = r.hkeys("g:g:cache:guilds")[0]
out["member_roles"] = len(member_roles(r, "g:g:", gid, me["id"]) or [])
cid = r.hkeys(f"g:g:cache:guild:{gid}:channels")[0]
out["permissions"] = isinstance(channel_permissions(r, "g:g:", cid, me["id"]), int)
out["reclaimed"] = w.stats["reclaimed"]
ok = (out["reclaimed"] >= 10 and out["events"] >= 100 and out["guild_events"] > 0 and out["wrong_shard"] == 0 and out["sent_all"] == shards
      and out["sent_guild"] and out["unknown_op"] and out["unknown_shard"] and out["member_roles"] > 0
      and out["permissions"])
print(json.dumps(dict(ok=ok, shards=shards, **out), separators=(",", ":")))
sys.exit(0 if ok else 1)
