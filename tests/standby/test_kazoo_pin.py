"""The master/standby recipe leans on kazoo internals; this fails loudly when kazoo changes them.

:mod:`disconf_client.standby.lock` overrides ``Lock._retry`` (bounded, cancellable retries) and
``Lock._get_predecessor`` (the "queued" moment for a standby's hooks), and
:mod:`disconf_client.standby.session` reads the negotiated session timeout from kazoo's
handshake log record. They are pinned to :data:`~disconf_client.standby.lock.KAZOO_TESTED`,
which must equal the pin in ``pyproject.toml``; before widening the pin, run ``tests/standby``
against the new kazoo and update the checks below.
"""

from __future__ import annotations

import inspect
import sys
from importlib.metadata import version
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.protocol.connection import ConnectionHandler
from kazoo.recipe.lock import Lock
from kazoo.retry import KazooRetry
from packaging.specifiers import SpecifierSet

from disconf_client.standby.lock import KAZOO_TESTED, ContenderLock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_installed_kazoo_is_in_the_tested_range_and_pyproject_pins_it() -> None:
    installed = version("kazoo")
    assert SpecifierSet(KAZOO_TESTED).contains(installed), (
        f"kazoo {installed} is outside the range the standby recipe was tested with "
        f"({KAZOO_TESTED}); see this module's docstring"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    kazoo = [d for d in project["dependencies"] if d.split(">")[0].split("<")[0] == "kazoo"]
    assert kazoo == [f"kazoo{KAZOO_TESTED}"]


def test_the_lock_internals_the_recipe_overrides_are_still_there() -> None:
    client = KazooClient(hosts="127.0.0.1:1")  # never started: no connection is made
    lock = Lock(client, "/x")
    assert isinstance(lock._retry, KazooRetry)  # replaced by ContenderLock.__init__
    assert "self._retry.copy()" in inspect.getsource(Lock.acquire)
    inner = inspect.getsource(Lock._inner_acquire)
    assert "predecessor = self._get_predecessor(node)" in inner  # called with our node created
    assert list(inspect.signature(Lock._get_predecessor).parameters) == ["self", "node"]
    assert "interrupt" in inspect.signature(KazooRetry).parameters
    contender = ContenderLock(client, "/x", b"data")
    assert contender._retry.max_delay == 1.0 and contender.data == b"data"
    assert contender.prefix.endswith("__lock__")


def test_the_handshake_record_still_carries_the_negotiated_timeout() -> None:
    source = inspect.getsource(ConnectionHandler._connect)
    start = source.index('"Session created')
    assert "BLATHER" in source[start - 60 : start]
    lines = [line.strip() for line in source[start:].splitlines()]
    arguments = [line.rstrip(",") for line in lines if line and not line.startswith('"')][:3]
    # the third argument after the format string is the negotiated timeout in milliseconds
    assert arguments[2] == "negotiated_session_timeout", arguments
    assert "negotiated_session_timeout = connect_result.time_out" in source
