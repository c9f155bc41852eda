"""The master/standby exceptions: one root under DisconfError, the tree in the errors module's
docstring is the real one, and every public name is importable from both packages."""

from __future__ import annotations

import builtins
import re

import disconf_client
import disconf_client.standby
from disconf_client.standby import errors
from disconf_core import DisconfError

# the names disconf_client exported before the subpackage: they must stay importable
PUBLIC_BEFORE = {
    "DEFAULT_SESSION_TIMEOUT",
    "ActiveStandby",
    "NotMasterError",
    "RoleConfigs",
    "StandbyError",
    "StandbySpec",
    "active_standby",
}

_ENTRY = re.compile(
    r"^(?P<indent>.*?)(?:\+-- )?(?P<name>[A-Z]\w+Error)(?: \(also (?P<also>\w+)\))?"
)


def drawn_tree() -> dict[str, tuple[str | None, str | None]]:
    """``{class name: (parent name, also-base name)}`` as drawn in the errors docstring."""
    doc = errors.__doc__ or ""
    drawing = doc.split("::", 1)[1].split("\n\n")[1]
    tree: dict[str, tuple[str | None, str | None]] = {}
    stack: list[tuple[int, str]] = []  # (column, name) of the open branches
    for line in drawing.splitlines():
        match = _ENTRY.match(line)
        if match is None or "+--" not in line and tree:
            continue  # a continuation line of a description
        column = len(match.group("indent"))
        while stack and stack[-1][0] >= column:
            stack.pop()
        tree[match.group("name")] = (stack[-1][1] if stack else None, match.group("also"))
        stack.append((column, match.group("name")))
    return tree


def test_the_drawn_tree_is_the_real_one() -> None:
    tree = drawn_tree()
    assert tree["DisconfError"] == (None, None)
    assert len(tree) == 7
    for name, (parent, also) in tree.items():
        if parent is None:
            continue
        cls = getattr(errors, name)
        expected = (getattr(errors, parent) if parent != "DisconfError" else DisconfError,)
        if also is not None:
            expected += (getattr(builtins, also),)
        assert cls.__bases__ == expected, name
    exported = {
        name
        for name in disconf_client.standby.__all__
        if isinstance(getattr(disconf_client.standby, name), type)
        and issubclass(getattr(disconf_client.standby, name), BaseException)
    }
    assert exported == set(tree) - {"DisconfError"}


def test_one_root_and_one_family_for_a_master_loop() -> None:
    from disconf_client.standby import (
        ContextTooLargeError,
        CoordinatorUnavailableError,
        MastershipError,
        NotMasterError,
        StandbyDataError,
        StandbyError,
    )

    assert issubclass(StandbyError, DisconfError)
    for cls in (ContextTooLargeError, StandbyDataError, MastershipError):
        assert issubclass(cls, StandbyError)
    assert issubclass(NotMasterError, MastershipError)
    assert issubclass(CoordinatorUnavailableError, MastershipError)
    assert not issubclass(ContextTooLargeError, MastershipError)  # a bug, not a lost term
    assert issubclass(StandbyDataError, ValueError)
    # the server reads the same data: the core and the client classes are the same objects
    import disconf_core
    import disconf_core.standby

    assert disconf_core.ContextTooLargeError is ContextTooLargeError
    assert disconf_core.standby.StandbyError is StandbyError


def test_public_names_importable_from_both_packages() -> None:
    standby_all = disconf_client.standby.__all__
    assert standby_all == sorted(standby_all, key=lambda name: (not name.isupper(), name))
    assert len(set(standby_all)) == len(standby_all)
    assert PUBLIC_BEFORE <= set(standby_all)
    for name in standby_all:
        assert name in disconf_client.__all__, name
        assert getattr(disconf_client, name) is getattr(disconf_client.standby, name), name
    public = {n for n in vars(disconf_client.standby) if not n.startswith("_")}
    modules = {"election", "errors", "hooks", "lock", "roles", "session", "spec", "store"}
    assert public - modules - {"annotations"} == set(standby_all)
