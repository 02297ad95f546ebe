"""Starts g-fakecord on a free port for a conformance test and talks to its admin API."""
import json
import re
import subprocess
import urllib.request

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


class Fakecord:
    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (wss?)://([^/]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"g-fakecord did not start: {line!r}")
        self.port = int(m.group(3))
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/"

    def get(self, path):
        with _opener.open(self.base + "/_fakecord/" + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path, body):
        req = urllib.request.Request(self.base + "/_fakecord/" + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with _opener.open(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
