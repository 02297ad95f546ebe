"""The example bot against g-fakecord (fakecord_kit's `fakecord` fixture): its REST calls are what a test asserts
on. Run with Debian's python3 (python3-discord, python3-pytest): /usr/bin/python3 -m pytest examples/bots/discordpy"""
import asyncio

import discord
import pytest
import yarl

from bot import Bot


async def run_bot(fakecord, scenario):
    """Starts the bot against g-fakecord, waits for it to be ready, runs the scenario in a thread (the kit's calls
    block), then stops the bot."""
    discord.http.Route.BASE = fakecord.api + "/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fakecord.ws)
    bot = Bot()
    ready = asyncio.Event()

    @bot.event
    async def on_ready():
        ready.set()

    task = asyncio.create_task(bot.start(fakecord.token))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.get_running_loop().run_in_executor(None, scenario)
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.fakecord_args("--guilds", "2", "--members", "3")
def test_ping_and_echo(fakecord):
    def scenario():
        guild = fakecord.guilds()[0]
        # The slash command was registered.
        sync = fakecord.wait_for_rest(lambda c: c["method"] == "PUT" and c["route"] == "/applications/{application.id}/commands")
        assert sync["status"] == 200 and sync["json"][0]["name"] == "echo"
        # !ping gets a reply: pong.
        sent = fakecord.dispatch(guild, "MESSAGE_CREATE", {"content": "!ping"})
        reply = fakecord.wait_for_rest(lambda c: c["method"] == "POST" and c["route"] == "/channels/{channel.id}/messages"
                                       and (c["json"] or {}).get("content") == "pong")
        assert reply["status"] == 200
        assert str(reply["json"]["message_reference"]["message_id"]) == sent["id"]  # discord.py sends a number
        # /echo says its text back.
        made = fakecord.interaction(kind="command", guild_id=guild, name="echo",
                                    options=[{"name": "text", "type": 3, "value": "hello there"}])
        callback = fakecord.wait_for_rest(lambda c: c["method"] == "POST" and c["path"].startswith(f"/interactions/{made['id']}/"))
        assert callback["status"] == 204
        assert callback["json"]["type"] == 4 and callback["json"]["data"]["content"] == "hello there"

    asyncio.run(run_bot(fakecord, scenario))
