import os
import sys

# fakecord_kit from this repository (pip install ./clients/testkit/python installs it for good).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "testkit", "python"))
pytest_plugins = ["fakecord_kit.pytest_plugin"]
