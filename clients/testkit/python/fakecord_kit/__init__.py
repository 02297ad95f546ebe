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
import shutil
import signal
import socket
import subprocess
import tempfile
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


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class G:
    """G in front of a started g-fakecord, for bots and workers that go through it: a private redis-server and `nodes`
    g-actor nodes on free ports. With `proxy=True` every node also serves the proxy and a g-cache worker runs (the
    proxy builds READY from the cache): point an unmodified bot at `api` (REST base) or `ws` (gateway), or at
    `proxies[i]` for node i. Ready once every node answers /healthz; the stream is g:g:events at
    127.0.0.1:redis_port. `kill(i, sig)` and `restart(i)` stop and start node i (failover tests).
    The binaries: arguments, else $G_ACTOR, $G_CACHE and $REDIS_SERVER, else the PATH."""

    def __init__(self, fakecord, actor=None, redis_server=None, intents=1 | 512 | 32768, extra_config="", nodes=1,
                 proxy=False, cache=None):
        self._actor = actor or os.environ.get("G_ACTOR", "g-actor")
        cache = cache or os.environ.get("G_CACHE", "g-cache")
        redis_server = redis_server or os.environ.get("REDIS_SERVER", "redis-server")
        self.dir = tempfile.mkdtemp(prefix="g-kit-")
        self._procs, self._configs, self.http_ports, proxy_ports = [], [], [], []
        self.cache = None
        self.redis_port = _free_port()
        self.redis = subprocess.Popen([redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        for i in range(nodes):
            http_port, proxy_port = _free_port(), _free_port() if proxy else 0
            config = os.path.join(self.dir, f"node{i}.toml")
            with open(config, "w") as f:
                f.write(f'[node]\nname = "kit{i}"\nlisten = "127.0.0.1:0"\n[discord]\ntoken = "{fakecord.token}"\n'
                        f'rest_url = "{fakecord.api}"\nintents = {intents}\n[redis]\nport = {self.redis_port}\n'
                        f'[http]\nlisten = "127.0.0.1:{http_port}"\n[security]\ncookie = "g-fakecord-kit-cookie"\n'
                        + (f'[proxy]\nlisten = "127.0.0.1:{proxy_port}"\n' if proxy else "") + extra_config)
            self._configs.append(config)
            self.http_ports.append(http_port)
            proxy_ports.append(proxy_port)
        self.http_port = self.http_ports[0]
        self.stream = "g:g:events"
        self.proxies = [{"api": f"http://127.0.0.1:{p}/api", "ws": f"ws://127.0.0.1:{p}"} for p in proxy_ports]
        self.api, self.ws = self.proxies[0]["api"], self.proxies[0]["ws"]
        time.sleep(0.2)  # redis-server binds
        try:
            for i in range(nodes):
                self._procs.append(self._launch(i))
            if proxy:
                self.cache = subprocess.Popen([cache, "--config", self._configs[0]])
        except OSError as e:
            self.stop()
            raise RuntimeError(f"cannot start G: {e}") from e
        for i in range(nodes):
            self._healthy(i)

    @property
    def node(self):
        """Node 0's process."""
        return self._procs[0]

    def _launch(self, i):
        return subprocess.Popen([self._actor, "--config", self._configs[i]])

    def _healthy(self, i):
        until = time.monotonic() + 30
        while True:
            try:
                with _opener.open(f"http://127.0.0.1:{self.http_ports[i]}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            code = self._procs[i].poll()
            if code is not None or time.monotonic() > until:
                self.stop()
                raise RuntimeError(f"g-actor did not become healthy (exit code {code})")
            time.sleep(0.1)

    def pid(self, i):
        """Node i's process id."""
        return self._procs[i].pid

    def kill(self, i, sig=signal.SIGKILL):
        """Sends node i a signal (kill -9 by default)."""
        self._procs[i].send_signal(sig)

    def restart(self, i):
        """Starts node i again with its config (after kill), returning once it answers /healthz."""
        old = self._procs[i]
        if old.poll() is None:
            old.terminate()
        old.wait()
        self._procs[i] = self._launch(i)
        self._healthy(i)

    def stop(self):
        """Stops the nodes, the g-cache worker and redis-server, and removes the configs."""
        for p in (*self._procs, self.cache, self.redis):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


async def run_client(client, token, scenario):
    """Runs a discord.py client (`async with client` + start) beside `scenario()`, a coroutine function that drives
    the test; returns what the scenario returns. Fails when the client stops first; closes the client either way."""
    import asyncio

    async with client:
        runner = asyncio.create_task(client.start(token))
        test = asyncio.create_task(scenario())
        done, _ = await asyncio.wait({runner, test}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done and not test.done():
            test.cancel()
            runner.result()
            raise AssertionError("the client stopped before the scenario finished")
        try:
            return test.result()
        finally:
            await client.close()
            await asyncio.gather(runner, return_exceptions=True)

