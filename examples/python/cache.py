#!/usr/bin/python3
"""Reads G's cache standard (docs/cache.md: what g-cache writes into Redis) to answer two questions a bot asks all
the time: which roles does this member have, and what may they do in this channel.

As a library (a redis-py client; prefix is "g:<group>:", e.g. "g:g:"), from the g_worker package:

    from g_worker import member_roles, channel_permissions, compute_permissions
    member_roles(r, "g:g:", guild_id, user_id)         -> [role, ...] (@everyone first) or None
    channel_permissions(r, "g:g:", channel_id, user_id) -> int permission bits or None

As a CLI, it checks the cache against g-fakecord's truth (see --help); --self-test checks the algorithm. The CLI
check needs redis-py (Debian python3-redis: run it with /usr/bin/python3); the functions and --self-test do not.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

# The functions live in the g_worker package (clients/python); this file keeps them importable from here too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from g_worker.cache import (  # noqa: E402
    ADMINISTRATOR, ALL, SEND_MESSAGES, VIEW_CHANNEL, _parse, channel_permissions, compute_permissions,
    member_roles)



# ---- self-test: hand-made cases, then the Redis functions on a fake client ------------------------------------

def self_test():
    guild = {"id": "1", "owner_id": "100"}
    roles = {
        "1": {"id": "1", "permissions": str(VIEW_CHANNEL | SEND_MESSAGES)},  # @everyone
        "2": {"id": "2", "permissions": str(ADMINISTRATOR)},
        "3": {"id": "3", "permissions": "0"},  # "helpers": nothing at guild level, VIEW_CHANNEL back in the channel
    }

    def member(uid, *role_ids):
        return {"user": {"id": uid}, "roles": list(role_ids)}

    channel = {"id": "50", "permission_overwrites": [
        {"id": "1", "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL | SEND_MESSAGES)},  # @everyone: hidden
        {"id": "3", "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},                 # helpers: see it
        {"id": "201", "type": 1, "allow": "0", "deny": str(VIEW_CHANNEL)},               # one helper: not
    ]}

    def perms(m, c=channel):
        return compute_permissions(guild, roles, m, c)

    assert perms(member("100")) == ALL, "owner: everything, despite the overwrites"
    assert perms(member("200", "2")) == ALL, "administrator: everything, despite the overwrites"
    assert perms(member("200"), None) == VIEW_CHANNEL | SEND_MESSAGES, "guild level: @everyone"
    assert perms(member("200")) == 0, "@everyone overwrite denies"
    assert perms(member("200", "3")) == VIEW_CHANNEL, "a role overwrite allows VIEW_CHANNEL back"
    assert perms(member("201", "3")) == 0, "a member overwrite denies it again"
    assert perms(member("200", "999", "3")) == VIEW_CHANNEL, "an unknown role id is ignored"
    assert compute_permissions(guild, list(roles.values()), member("200", "3"), channel) == VIEW_CHANNEL, \
        "roles as a list"

    # The cache as g-cache writes it (prefix "g:t:"), with a thread under channel 50, and a client with just the
    # commands the functions use.
    p, k, js = "g:t:", "g:t:cache:guild:1", json.dumps
    data = {
        p + "cache:channel:50": "1", p + "cache:channel:60": "1", k: js(guild),
        k + ":channels": {"50": js(dict(channel, guild_id="1"))},
        k + ":threads": {"60": js({"id": "60", "type": 11, "guild_id": "1", "parent_id": "50"})},
        k + ":roles": {i: js(x) for i, x in roles.items()},
        k + ":members": {"200": js(member("200", "999", "3")), "201": js(member("201", "3"))},
    }

    class FakeRedis:
        def get(self, key):
            return data.get(key)

        def hget(self, key, field):
            return data.get(key, {}).get(field)

        def hmget(self, key, fields):
            return [data.get(key, {}).get(f) for f in fields]

    r = FakeRedis()
    assert [x["id"] for x in member_roles(r, p, "1", "200")] == ["1", "3"]
    assert member_roles(r, p, "1", "202") is None, "not a cached member"
    assert channel_permissions(r, p, "50", "200") == VIEW_CHANNEL
    assert channel_permissions(r, p, "60", "200") == VIEW_CHANNEL, "thread: the parent's overwrites"
    assert channel_permissions(r, p, "60", "201") == 0
    assert channel_permissions(r, p, "70", "200") is None, "unknown channel"
    print("self-test ok")


# ---- CLI: compare the cache with g-fakecord's truth ---------------------------------------------------------

class Unreachable(Exception):
    """exit 2: Redis or g-fakecord cannot be asked"""


def fetch_truth(port, guild_id):
    url = f"http://127.0.0.1:{port}/_fakecord/guild/{guild_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None  # the bot is not (or no longer) in that guild
        raise Unreachable(f"g-fakecord: GET {url}: HTTP {e.code} {e.read().decode(errors='replace').strip()}")
    except (urllib.error.URLError, OSError) as e:
        raise Unreachable(f"cannot reach g-fakecord at 127.0.0.1:{port}: {getattr(e, 'reason', e)}")


def role_key(ids):
    return ids[0], sorted(ids[1:])  # @everyone must come first, the order of the others does not matter


def check_guild(r, prefix, guild_id, truth):
    """One guild: every member's roles, and every member's permissions in every text channel, cache vs truth."""
    res = {"members": 0, "channels": 0, "checked": 0, "mismatches": 0, "notes": []}

    def mismatch(what):
        res["mismatches"] += 1
        res["notes"].append(f"guild {guild_id}: {what}")

    if truth is None:
        mismatch("in cache:guilds, but g-fakecord says the bot is not in it")
        return res
    known = {x["id"] for x in truth["roles"]}
    texts = [c for c in truth["channels"] if c["type"] == 0]
    res["members"], res["channels"] = len(truth["members"]), len(texts)
    for m in truth["members"]:
        uid = m["user"]["id"]
        got = member_roles(r, prefix, guild_id, uid)
        want = [guild_id] + [i for i in m["roles"] if i != guild_id and i in known]
        res["checked"] += 1
        if got is None:
            mismatch(f"member {uid} is not in the cache")
            continue
        got_ids = [x["id"] for x in got]
        if role_key(got_ids) != role_key(want):
            mismatch(f"member {uid}: roles {','.join(got_ids)} in the cache, {','.join(want)} in truth")
        for c in texts:
            res["checked"] += 1
            have, expect = channel_permissions(r, prefix, c["id"], uid), compute_permissions(truth, truth["roles"], m, c)
            if have != expect:
                mismatch(f"member {uid} in channel {c['id']}: {have} from the cache, {expect} from truth")
    return res


def cli():
    p = argparse.ArgumentParser(description="Check G's cache (docs/cache.md) against g-fakecord's truth: member "
                                            "roles and channel permissions")
    p.add_argument("--redis-host", default="127.0.0.1")
    p.add_argument("--redis-port", type=int)
    p.add_argument("--redis-password", default=os.environ.get("REDIS_PASS"))
    p.add_argument("--group", default="g", help="G group: keys are g:<group>:…")
    p.add_argument("--fakecord-port", type=int)
    p.add_argument("--guilds", type=int, default=5, help="check up to N guilds of cache:guilds (0: all)")
    p.add_argument("--self-test", action="store_true", help="check the algorithm on hand-made cases and exit")
    args = p.parse_args()  # a bad option: exit 2
    if args.self_test:
        self_test()
        sys.exit(0)
    if not args.redis_port or not args.fakecord_port or args.guilds < 0:
        p.error("--redis-port and --fakecord-port are required; --guilds takes a number (0: all)")

    import redis  # only the CLI needs it: the functions take any client

    prefix, where = f"g:{args.group}:", f"{args.redis_host}:{args.redis_port}"
    summary = {"guilds": 0, "members": 0, "channels": 0, "checked": 0, "mismatches": 0}

    def finish(code, why=None):
        if why:
            print(f"cache: {why}", file=sys.stderr)
        print(json.dumps(summary, separators=(",", ":")), flush=True)
        sys.exit(code)

    r = redis.Redis(host=args.redis_host, port=args.redis_port, password=args.redis_password, decode_responses=True,
                    socket_connect_timeout=3, socket_timeout=10, retry_on_timeout=False)
    try:
        shown = 0
        for gid in sorted(r.hkeys(prefix + "cache:guilds"), key=int):
            if args.guilds and summary["guilds"] >= args.guilds:
                break
            cached = _parse(r.get(f"{prefix}cache:guild:{gid}"))
            if not cached or cached.get("unavailable"):  # in an outage the cache keeps what it had: nothing to compare
                print(f"cache: guild {gid}: {'unavailable' if cached else 'no cache:guild entry'}, skipped",
                      file=sys.stderr)
                continue
            # G and the simulator both move on while we read: a mismatch may be an event still on its way to the
            # cache, so a guild that does not match is read again once, a second later, and only that counts.
            for attempt in range(2):
                if attempt:
                    time.sleep(1)
                res = check_guild(r, prefix, gid, fetch_truth(args.fakecord_port, gid))
                if not res["mismatches"]:
                    break
            summary["guilds"] += 1
            for f in ("members", "channels", "checked", "mismatches"):
                summary[f] += res[f]
            for n in res["notes"]:
                if shown < 20:
                    print(f"cache: mismatch: {n}", file=sys.stderr)
                shown += 1
    except Unreachable as e:
        finish(2, str(e))
    except (redis.ConnectionError, redis.TimeoutError) as e:
        finish(2, f"cannot reach Redis at {where}: {e}")
    except redis.RedisError as e:
        finish(2, f"Redis at {where}: {e}")  # WRONGPASS, NOAUTH, WRONGTYPE, …
    except ValueError as e:
        finish(2, f"bad value: {e}")  # not JSON, a guild id that is not a number
    if not summary["checked"] and not summary["mismatches"]:
        finish(1, f"nothing to check: no available guild in {prefix}cache:guilds")
    finish(1 if summary["mismatches"] else 0)


if __name__ == "__main__":
    cli()
