"""fakecord_kit: g-fakecord (G's Discord simulator) for a bot's own test suite.

    from fakecord_kit import Fakecord
    fc = Fakecord(args=["--guilds", "3"])            # on a free loopback port
    discord.http.Route.BASE = fc.api + "/v10"        # discord.py: point REST and the gateway at it
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fc.ws)
    fc.dispatch(guild_id, "MESSAGE_CREATE", {"content": "!ping"})
    call = fc.wait_for_rest(lambda c: c["method"] == "POST" and c["route"] == "/channels/{channel.id}/messages")
    fc.stop()

With pytest, `pytest_plugins = ["fakecord_kit.pytest_plugin"]` gives the fixture `fakecord`. The binary: the
`binary` argument, else $G_FAKECORD, else `g-fakecord` on the PATH.
"""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


class Fakecord:
    def __init__(self, binary=None, token="test-token", args=()):
        binary = binary or os.environ.get("G_FAKECORD", "g-fakecord")
        try:
            self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--token", token, "--quiet", *args],
                                         stdout=subprocess.PIPE, text=True)
        except OSError as e:
            raise RuntimeError(f"cannot start g-fakecord ({binary}): {e}") from e
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (wss?)://([^/]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"g-fakecord did not start: {line!r}")
        self.port = int(m.group(3))
        self.base = f"http://127.0.0.1:{self.port}"
        self.api = self.base + "/api"  # the REST base (libraries add /v10)
        self.ws = f"ws://127.0.0.1:{self.port}/"
        self.token = token

    def _admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}/_fakecord/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with _opener.open(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} /_fakecord/{path}: {e.code} {e.read().decode()}") from e

    def get(self, path):
        return self._admin("GET", path)

    def post(self, path, body):
        return self._admin("POST", path, body)

    def stats(self):
        return self.get("stats")

    def guilds(self):
        return [g["id"] for g in self.get("guilds")["guilds"] if g["bot"]]

    def guild(self, guild_id):
        return self.get(f"guild/{guild_id}")

    def dispatch(self, guild_id, t, d):
        """One event as Discord would send it (g-fakecord fills the fields `d` leaves out)."""
        return self.post("dispatch", {"guild_id": str(guild_id), "t": t, "d": d})

    def interaction(self, **spec):
        """A complete INTERACTION_CREATE: kind="command"|"button"|"modal", guild_id, name, options, custom_id, …"""
        return self.post("interaction", spec)

    def rest(self):
        """The REST calls the bot made, oldest first: [{method, route, path, body, status, at_ms}]."""
        return self.get("rest")["calls"]

    def wait_for_rest(self, match, timeout=10.0):
        """The first REST call `match` accepts (with its body parsed as "json"), waiting up to `timeout` s."""
        until = time.monotonic() + timeout
        while True:
            for c in self.rest():
                try:
                    c["json"] = json.loads(c["body"]) if c["body"] else None
                except ValueError:
                    c["json"] = None
                if match(c):
                    return c
            if time.monotonic() > until:
                raise AssertionError(f"no matching REST call within {timeout} s")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
