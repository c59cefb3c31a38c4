"""The method registry: one literal table from name to "module:Class".

Lazy on purpose: a method's file is imported only when asked for, so one broken
file cannot break the others. Adding a method = one file in methods/ + one line here.
"""
from __future__ import annotations

import difflib
import importlib

from methods.base import Method

REGISTRY: dict[str, str] = {
    "center": "methods.floors:CenterPrior",
    "random": "methods.floors:RandomMap",
    "supervised": "methods.supervised:SupervisedOnly",
    "oracle": "methods.supervised:Oracle",
    "ezvsl": "methods.ez_vsl:EZVSL",
    "hard_pl": "methods.pseudo_label:HardPseudoLabel",
    "attention10k_ssl": "methods.attention10k_ssl:Attention10kSSL",
    "xpl": "methods.xpl:XPL",
    "slavc": "methods.slavc:SLAVC",
    "fnac": "methods.fnac:FNAC",
}


class UnknownMethodError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def list_methods() -> list[str]:
    return sorted(REGISTRY)


def get_method(name: str):
    """Return the method class registered as `name`."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownMethodError(
            f"Unknown method {name!r}.{hint} Registered methods: {', '.join(list_methods())}."
        )
    module_name, _, attr = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{REGISTRY[name]} (registered as {name!r}) is not a subclass of methods.base.Method")
    if cls.name != name:
        raise TypeError(f"{REGISTRY[name]} declares name {cls.name!r} but is registered as {name!r}")
    return cls
