"""The test kit (clients/testkit/python) with G in between: g-fakecord, a redis-server and a g-actor node started by
the kit; generated events reach G's stream. Exit 0 when they do."""
import json
import os
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "testkit", "python"))
from fakecord_kit import G, Fakecord  # noqa: E402

fc = Fakecord(args=["--guilds", "4", "--rate", "100"])
g = G(fc)
r = redis.Redis(port=g.redis_port)
n = 0
for _ in range(100):
    n = r.xlen(g.stream)
    if n >= 20:
        break
    time.sleep(0.1)
g.stop()
fc.stop()
print(json.dumps({"stream_entries": n}))
sys.exit(0 if n >= 20 else 1)
