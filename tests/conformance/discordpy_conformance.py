"""discord.py's AutoShardedClient (Debian python3-discord) against g-fakecord, 2 shards, zlib-stream.

Asserts on what the library reports: ready shards with every guild, a parsed message, a resume after op 7,
a fresh identify after op 9 (false). Run with /usr/bin/python3 (the Debian package is not visible elsewhere).
"""
import asyncio
import sys

import discord
import yarl

from fakecord_process import Fakecord
from fakecord_kit import run_client

GUILDS = 12
TIMEOUT = 90


def guild_on_shard(guild_id, shard, count=2):
    return (guild_id >> 22) % count == shard


async def main(binary):
    fc = Fakecord(binary, "--guilds", str(GUILDS), "--shards", "2", "--max-concurrency", "1",
                  "--token", "conformance-token", "--heartbeat-ms", "5000")
    discord.http.Route.BASE = f"{fc.base}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fc.ws)
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.AutoShardedClient(intents=intents, shard_count=2)
    ready = asyncio.Event()
    shard_ready = {0: asyncio.Event(), 1: asyncio.Event()}
    resumed = {0: asyncio.Event(), 1: asyncio.Event()}
    messages = asyncio.Queue()

    @client.event
    async def on_ready():
        ready.set()

    @client.event
    async def on_shard_ready(shard_id):
        shard_ready[shard_id].set()

    @client.event
    async def on_shard_resumed(shard_id):
        resumed[shard_id].set()

    @client.event
    async def on_message(message):
        await messages.put(message)

    loop = asyncio.get_running_loop()

    async def admin(method, path, body=None):
        return await loop.run_in_executor(None, (lambda: fc.get(path)) if method == "GET" else (lambda: fc.post(path, body)))

    async def expect_message(guild_id, text):
        await admin("POST", "dispatch", {"guild_id": str(guild_id), "t": "MESSAGE_CREATE", "d": {"content": text}})
        while True:
            m = await asyncio.wait_for(messages.get(), TIMEOUT)
            if m.content == text:
                assert m.guild is not None and m.guild.id == guild_id, (m.guild, guild_id)
                assert m.channel is not None and m.author is not None
                return m

    async def scenario():
        await asyncio.wait_for(ready.wait(), TIMEOUT)
        assert len(client.guilds) == GUILDS, f"{len(client.guilds)} guilds ready, expected {GUILDS}"
        for shard in (0, 1):
            owned = [g for g in client.guilds if g.shard_id == shard]
            assert owned and all(guild_on_shard(g.id, shard) for g in owned), f"shard {shard} guild routing"
            assert all(len(g.text_channels) == 3 for g in owned)
        stats = await admin("GET", "stats")
        assert stats["identifies"] == 2, stats
        assert all(s["transport"] == "zlib-stream" for s in stats["sessions"]), stats["sessions"]
        guild0 = next(g.id for g in client.guilds if g.shard_id == 0)
        guild1 = next(g.id for g in client.guilds if g.shard_id == 1)
        await expect_message(guild1, "hello from fakecord")
        print("ok: ready with all guilds, MESSAGE_CREATE parsed")

        await admin("POST", "fault", {"shard": 0, "kind": "reconnect"})
        await asyncio.wait_for(resumed[0].wait(), TIMEOUT)
        stats = await admin("GET", "stats")
        assert stats["resumes"] == 1 and stats["identifies"] == 2, stats
        await expect_message(guild0, "after resume")
        print("ok: op 7 -> resumed, no extra identify")

        shard_ready[1].clear()
        await admin("POST", "fault", {"shard": 1, "kind": "invalidate"})
        await asyncio.wait_for(shard_ready[1].wait(), TIMEOUT)
        stats = await admin("GET", "stats")
        assert stats["identifies"] == 3, stats
        await expect_message(guild1, "after new session")
        print("ok: op 9 false -> identified anew")

        stats = await admin("GET", "stats")
        assert stats["violations"] == {}, stats["violations"]
        print("ok: zero violations")

    try:
        await run_client(client, "conformance-token", scenario)
    finally:
        fc.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    print("discord.py conformance: all checks passed")
