"""An unmodified discord.py client (Debian python3-discord) through G's proxy, in front of a two-node G cluster, in
front of g-fakecord; fakecord_kit starts all of it (G with proxy=True runs g-cache too).

Asserts on what the library reports and on g-fakecord's truth:
  a. on_ready with every guild, each guild's channels, roles, members and name equal to the truth (READY and
     GUILD_CREATE built from the cache);
  b. messages dispatched across guilds arrive exactly once;
  c. a kill -9 of a node that holds a shard (not the one the bot is connected to) loses and duplicates no message
     dispatched before, during and after it, and costs no IDENTIFY at g-fakecord (G resumes the session);
  d. guild.chunk() returns every member (op 8 through the proxy, the chunks carry discord.py's nonce), and a REST
     read goes through the proxy's /api; asked 30 s after G's own [chunking] requests (Discord's limit);
  e. change_presence reaches g-fakecord as an op 3;
  f. change_voice_state (op 4) brings the bot's VOICE_STATE_UPDATE and the guild's VOICE_SERVER_UPDATE back.
Prints one JSON summary line; exit 0 only when every check holds.

    G_FAKECORD=build/g-fakecord G_ACTOR=build/g-actor G_CACHE=build/g-cache /usr/bin/python3 discordpy_proxy.py

Run with /usr/bin/python3 (the Debian package is not visible elsewhere); needs redis-server and python3-redis.
"""
import asyncio
import collections
import json
import os
import sys
import time

import discord
import redis
import yarl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "testkit", "python"))
from fakecord_kit import G, Fakecord, run_client  # noqa: E402

GUILDS, SHARDS, MEMBERS = 6, 2, 5
INTENTS = 1 | 2 | 128 | 512 | 32768  # guilds, members, voice states, guild messages, message content
TIMEOUT = 20
RAW_KINDS = ("VOICE_STATE_UPDATE", "VOICE_SERVER_UPDATE", "GUILD_MEMBERS_CHUNK", "RATE_LIMITED")  # kept as received


def log(what):
    print(f"discordpy_proxy: {what}", flush=True)


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def ids(items, key="id"):
    return {int(x[key]) for x in items}


def wait_for_cache(g, truth, timeout=30.0):
    """Until g-cache holds every guild of the truth with at least its members (the proxy builds READY from it)."""
    r = redis.Redis(port=g.redis_port)
    until = time.monotonic() + timeout
    while True:
        cached = {k.decode() for k in r.hkeys("g:g:cache:guilds")}
        held = {gid: r.hlen(f"g:g:cache:guild:{gid}:members") if gid in cached else None for gid in truth}
        short = {gid: n for gid, n in held.items() if n is None or n < len(truth[gid]["members"])}
        if not short:
            return
        if time.monotonic() > until:
            raise AssertionError(f"g-cache does not hold every guild with its members after {timeout} s: "
                                 f"{len(cached)} of {len(truth)} guilds cached, short of members: {short}")
        time.sleep(0.1)


def shard_owners(g):
    """shard → the name of the node holding its lease ("kit0", "kit1"), or None."""
    r = redis.Redis(port=g.redis_port, decode_responses=True)
    out = {}
    for shard in range(SHARDS):
        node = r.get(f"g:g:owner:{SHARDS}:{shard}")
        info = r.hget("g:g:nodes", node) if node else None
        out[shard] = json.loads(info)["name"] if info else None
    return out


async def main():
    started = time.monotonic()
    fc = Fakecord(args=["--guilds", str(GUILDS), "--shards", str(SHARDS), "--members", str(MEMBERS)])
    g = None
    client = None
    summary = {}
    try:
        g = G(fc, nodes=2, proxy=True, intents=INTENTS, extra_config="[chunking]\nenabled = true\n")
        truth = {gid: fc.guild(gid) for gid in fc.guilds()}
        check(len(truth) == GUILDS, f"g-fakecord has {len(truth)} guilds with the bot, expected {GUILDS}")
        wait_for_cache(g, truth)
        cache_full_at = time.monotonic()  # G's own member requests ([chunking]) were all made by now
        log(f"G up (proxies {[p['ws'] for p in g.proxies]}), cache full after {time.monotonic() - started:.1f} s")

        # The proxy answers /gateway/bot with its own URL and G's shard count; the rest of /api goes to g-fakecord.
        discord.http.Route.BASE = f"{g.api}/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(g.ws)  # also where an invalidated session goes
        intents = discord.Intents.none()
        intents.guilds = intents.members = intents.voice_states = True
        intents.guild_messages = intents.message_content = True
        client = discord.AutoShardedClient(intents=intents, enable_debug_events=True, chunk_guilds_at_startup=False)
        summary = await run(fc, g, client, truth, cache_full_at)
    finally:
        if client is not None and not client.is_closed():
            await client.close()
        if g is not None:
            g.stop()
        fc.stop()
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


async def run(fc, g, client, truth, cache_full_at):
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    messages = collections.Counter()
    arrived = asyncio.Condition()
    raw = collections.defaultdict(list)   # t → [d] of the dispatches the library received
    sent_nonces = []                      # discord.py's op 8 nonces
    shard_events = collections.Counter()  # connects, disconnects, resumes of the bot's own shards

    async def blocking(f, *args):
        return await loop.run_in_executor(None, f, *args)

    @client.event
    async def on_ready():
        ready.set()

    @client.event
    async def on_message(message):
        async with arrived:
            messages[message.content] += 1
            arrived.notify_all()

    @client.event
    async def on_socket_raw_receive(msg):
        p = json.loads(msg)
        if p.get("op") == 0 and p.get("t") in RAW_KINDS:
            raw[p["t"]].append(p["d"])

    @client.event
    async def on_socket_raw_send(payload):
        try:
            p = json.loads(payload)
        except (TypeError, ValueError):
            return
        if p.get("op") == 8:
            sent_nonces.append(p["d"].get("nonce"))

    @client.event
    async def on_shard_connect(shard_id):
        shard_events["connect"] += 1

    @client.event
    async def on_shard_disconnect(shard_id):
        shard_events["disconnect"] += 1

    @client.event
    async def on_shard_resumed(shard_id):
        shard_events["resumed"] += 1

    async def wait_messages(texts, timeout):
        """Until every text arrived (or the timeout); then a moment more, so that a duplicate would show."""
        until = loop.time() + timeout
        async with arrived:
            while any(messages[t] == 0 for t in texts) and loop.time() < until:
                try:
                    await asyncio.wait_for(arrived.wait(), until - loop.time())
                except asyncio.TimeoutError:
                    break
        await asyncio.sleep(0.5)
        missing = [t for t in texts if messages[t] == 0]
        twice = {t: messages[t] for t in texts if messages[t] > 1}
        return missing, twice

    def chunk_trail(gid):
        """Where a member request went: sent by discord.py, received by g-fakecord, chunks in G's stream, chunks
        the bot received."""
        r = redis.Redis(port=g.redis_port, decode_responses=True)
        got = [c["d"] for c in fc.get("received?op=8")["commands"] if str(c["d"].get("guild_id")) == gid]
        in_stream = [json.loads(f["d"]).get("nonce") for _, f in r.xrange(g.stream)
                     if f.get("t") == "GUILD_MEMBERS_CHUNK" and json.loads(f["d"]).get("guild_id") == gid]
        to_bot = [d.get("nonce") for d in raw["GUILD_MEMBERS_CHUNK"] if d.get("guild_id") == gid]
        limited = [d for d in raw["RATE_LIMITED"] if d.get("meta", {}).get("guild_id") == gid]
        return (f"discord.py sent op 8 nonces {sent_nonces}; g-fakecord received op 8 for the guild: {got}; "
                f"chunks in G's stream (nonces): {in_stream}; chunks the bot received (nonces): {to_bot}; "
                f"RATE_LIMITED the bot received for the guild: {limited}")

    async def scenario():
        summary = {}
        guild_ids = sorted(truth)
        await asyncio.wait_for(ready.wait(), 45)
        log(f"ready with {len(client.guilds)} guilds on {client.shard_count} shards")

        # a. READY and GUILD_CREATE (from the cache) against the truth.
        check(client.shard_count == SHARDS, f"the library runs {client.shard_count} shards, G {SHARDS}")
        check({gd.id for gd in client.guilds} == {int(x) for x in guild_ids},
              f"guilds: the bot has {sorted(gd.id for gd in client.guilds)}, g-fakecord {guild_ids}")
        for gid in guild_ids:
            t, gd = truth[gid], client.get_guild(int(gid))
            check(gd.name == t["name"], f"guild {gid}: name {gd.name!r}, truth {t['name']!r}")
            check({c.id for c in gd.channels} == ids(t["channels"]),
                  f"guild {gid}: channels {sorted(c.id for c in gd.channels)}, truth {sorted(ids(t['channels']))}")
            check({r.id for r in gd.roles} == ids(t["roles"]),
                  f"guild {gid}: roles {sorted(r.id for r in gd.roles)}, truth {sorted(ids(t['roles']))}")
            truth_members = {int(m["user"]["id"]) for m in t["members"]}
            check({m.id for m in gd.members} == truth_members,
                  f"guild {gid}: members {sorted(m.id for m in gd.members)}, truth {sorted(truth_members)}")
            check(gd.shard_id == (int(gid) >> 22) % SHARDS, f"guild {gid} on shard {gd.shard_id}")
        summary["a_ready"] = {"guilds": len(guild_ids), "shards": client.shard_count}
        log("a. ok: READY/GUILD_CREATE equal the truth")

        # b. Messages across guilds, each exactly once.
        texts = [f"py-{n}" for n in range(10)]
        for n, text in enumerate(texts):
            await blocking(fc.dispatch, guild_ids[n % len(guild_ids)], "MESSAGE_CREATE", {"content": text})
        missing, twice = await wait_messages(texts, TIMEOUT)
        check(not missing and not twice, f"b. messages missing {missing}, more than once {twice}")
        summary["b_messages"] = len(texts)
        log("b. ok: 10 messages, each once")

        # c. kill -9 of a node holding a shard while messages flow. The bot is connected to node 0's proxy (g.ws),
        # which must stay: the victim is the owner of a shard of another node (with two nodes, node 1, which is
        # killed even when it owns nothing).
        owners = shard_owners(g)
        others = sorted({int(name[3:]) for name in owners.values() if name and name != "kit0"})
        victim = others[0] if others else 1
        victim_shards = [s for s, name in owners.items() if name == f"kit{victim}"]
        stats_before = await blocking(fc.stats)
        kill_texts, killed_at = [], None
        t0 = loop.time()
        n = 0
        while loop.time() - t0 < 4.0:
            if killed_at is None and loop.time() - t0 >= 1.0:
                g.kill(victim)
                killed_at = round(loop.time() - t0, 2)
                log(f"c. killed node {victim} (pid {g.pid(victim)}), owners were {owners}")
            text = f"py-kill-{n}"
            kill_texts.append(text)
            await blocking(fc.dispatch, guild_ids[n % len(guild_ids)], "MESSAGE_CREATE", {"content": text})
            n += 1
            await asyncio.sleep(0.05)
        missing, twice = await wait_messages(kill_texts, 30)
        stats_after = await blocking(fc.stats)
        owners_after = shard_owners(g)
        check(not missing and not twice,
              f"c. across the kill: {len(missing)} of {len(kill_texts)} messages missing ({missing[:10]}…), "
              f"more than once {twice}; owners before {owners}, after {owners_after}")
        check(stats_after["identifies"] == stats_before["identifies"],
              f"c. g-fakecord counted {stats_after['identifies'] - stats_before['identifies']} IDENTIFYs during the "
              "kill: G did not resume the session")
        summary["c_kill"] = {"killed_node": victim, "its_shards": victim_shards, "owners_after": owners_after,
                             "messages": len(kill_texts), "killed_at_s": killed_at,
                             "identifies": stats_after["identifies"],
                             "resumes": stats_after["resumes"] - stats_before["resumes"],
                             "bot_shard_events": dict(shard_events)}
        log(f"c. ok: {len(kill_texts)} messages each once across the kill, owners now {owners_after}")

        # d. Member chunks through the proxy (op 8 with discord.py's nonce), and a REST read through /api.
        # G's [chunking] asked for every guild's whole member list when its shards started; Discord (and g-fakecord)
        # answer a second whole-list request for a guild within 30 s with RATE_LIMITED, which discord.py 2.2 does
        # not handle (chunk() would wait forever). So the bot asks once that window is over.
        pause = cache_full_at + 31 - time.monotonic()
        if pause > 0:
            log(f"d. waiting {pause:.1f} s for the member-request window of G's own requests to end")
            await asyncio.sleep(pause)
        chunk_counts = {}
        for gid in guild_ids:
            gd = client.get_guild(int(gid))
            try:
                members = await asyncio.wait_for(gd.chunk(), TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError(f"d. guild {gid}: chunk() got no answer within {TIMEOUT} s; "
                                     + await blocking(chunk_trail, gid)) from None
            truth_members = {int(m["user"]["id"]) for m in (await blocking(fc.guild, gid))["members"]}
            check({m.id for m in members} == truth_members,
                  f"d. guild {gid}: chunk() gave {sorted(m.id for m in members)}, truth {sorted(truth_members)}")
            chunk_counts[gid] = len(members)
        chunk_nonces = {d.get("nonce") for d in raw["GUILD_MEMBERS_CHUNK"]}
        check(len(sent_nonces) >= len(guild_ids) and set(sent_nonces) <= chunk_nonces,
              f"d. discord.py sent op 8 with nonces {sent_nonces}, the chunks carried {chunk_nonces}")
        gd = client.get_guild(int(guild_ids[0]))
        someone = next(m for m in gd.members if m.id != client.user.id)
        fetched = await gd.fetch_member(someone.id)
        check(fetched.id == someone.id, f"d. fetch_member gave {fetched.id}, asked {someone.id}")
        summary["d_chunk"] = {"members": sum(chunk_counts.values()), "requests": len(sent_nonces)}
        log("d. ok: chunk() gave every member, chunks carried the nonces")

        # e. A presence update reaches g-fakecord.
        await client.change_presence(status=discord.Status.dnd, activity=discord.Game("py-proxy"))
        until = loop.time() + 10
        while True:
            got = [c for c in (await blocking(fc.get, "received?op=3"))["commands"] if "py-proxy" in json.dumps(c["d"])]
            if got or loop.time() > until:
                break
            await asyncio.sleep(0.2)
        check(got, "e. no op 3 with \"py-proxy\" reached g-fakecord within 10 s")
        summary["e_presence"] = {"shards": sorted({c["shard"] for c in got})}
        log("e. ok: op 3 reached g-fakecord")

        # f. Voice: op 4 through the proxy; the bot's VOICE_STATE_UPDATE and the guild's VOICE_SERVER_UPDATE back.
        gd = next(client.get_guild(int(gid)) for gid in guild_ids if client.get_guild(int(gid)).voice_channels)
        vc = gd.voice_channels[0]
        await gd.change_voice_state(channel=vc)
        until = loop.time() + 10
        while True:
            state = [d for d in raw["VOICE_STATE_UPDATE"]
                     if d.get("user_id") == str(client.user.id) and d.get("guild_id") == str(gd.id)
                     and d.get("channel_id") == str(vc.id)]
            server = [d for d in raw["VOICE_SERVER_UPDATE"] if d.get("guild_id") == str(gd.id)]
            if (state and server) or loop.time() > until:
                break
            await asyncio.sleep(0.1)
        check(state, f"f. no VOICE_STATE_UPDATE for the bot in channel {vc.id} of guild {gd.id} within 10 s")
        check(server, f"f. no VOICE_SERVER_UPDATE for guild {gd.id} within 10 s")
        summary["f_voice"] = {"guild": str(gd.id), "channel": str(vc.id), "endpoint": server[0].get("endpoint")}
        log("f. ok: VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE arrived")
        return summary

    return await run_client(client, fc.token, scenario)


if __name__ == "__main__":
    try:
        result = asyncio.run(main())
    except (AssertionError, asyncio.TimeoutError, RuntimeError) as e:
        what = str(e) or f"{type(e).__name__} (a wait ran out)"
        print(json.dumps({"ok": False, "failed": what}))
        log(f"FAILED: {what}")
        sys.exit(1)
    print(json.dumps({"ok": True, **result}))
    log("all checks passed")
