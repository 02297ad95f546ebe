"""The pytest fixture `fakecord`: a g-fakecord per test, stopped afterwards. Enable it with
`pytest_plugins = ["fakecord_kit.pytest_plugin"]` in a conftest.py. Options for it come from the test's
`fakecord_args` marker: `@pytest.mark.fakecord_args("--guilds", "3")`."""
import pytest

from fakecord_kit import Fakecord


def pytest_configure(config):
    config.addinivalue_line("markers", "fakecord_args(*args): command-line options for the test's g-fakecord")


@pytest.fixture
def fakecord(request):
    marker = request.node.get_closest_marker("fakecord_args")
    fc = Fakecord(args=marker.args if marker else ())
    yield fc
    fc.stop()
