"""g-fakecord for a conformance test: the test kit's launcher (clients/testkit/python) with this build's binary; a
--token among the arguments replaces the kit's default."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "testkit", "python"))
from fakecord_kit import Fakecord as _Kit  # noqa: E402


class Fakecord(_Kit):
    def __init__(self, binary, *args):
        super().__init__(binary=binary, args=args)
