"""Finding the decorated classes a client binds when it is not given a list.

* :func:`scan` imports a module, or a package and every module under it, and returns the classes
  decorated with ``@disconf_file``/``@disconf_item`` that are defined there (as Disconf's
  ``scanPackage``);
* without a list and without ``scan``, the client binds :func:`decorated_classes` (every class
  decorated so far in this process) and logs which.

An import error in a scanned module propagates (a typo in a package name must not start a client
with nothing bound).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from .decorators import SPEC_ATTR, decorated_classes

__all__ = ["decorated_classes", "scan"]


def _defined_in(module: ModuleType) -> list[type]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and SPEC_ATTR in value.__dict__
        and value.__module__ == module.__name__
    ]


def scan(name: str) -> list[type]:
    """The decorated classes of module ``name``, or of package ``name`` and its submodules."""
    module = importlib.import_module(name)
    modules = [module]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{module.__name__}."):
            modules.append(importlib.import_module(info.name))
    classes: list[type] = []
    for each in modules:
        for cls in _defined_in(each):
            if cls not in classes:
                classes.append(cls)
    return classes
