"""An example bot written with discord.py, unchanged by G: "!ping" answers "pong" (a reply), and the slash command
/echo says its text back. Its tests (test_bot.py) run it against g-fakecord with fakecord_kit."""
import os

import discord
from discord import app_commands


class Bot(discord.Client):
    def __init__(self):
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="echo", description="Say something back")
        @app_commands.describe(text="What to say")
        async def echo(interaction: discord.Interaction, text: str):
            await interaction.response.send_message(text)

    async def setup_hook(self):
        await self.tree.sync()  # PUT /applications/{id}/commands

    async def on_message(self, message):
        if not message.author.bot and message.content == "!ping":
            await message.reply("pong")


if __name__ == "__main__":
    Bot().run(os.environ["BOT_TOKEN"])
