"""docs/api.md's tree of errors is the classes ``ccapki`` exports, each under its base
(walkthrough F: ``TokenError``, which ``create_cas`` and every token signature raise, was
not in it)."""

from __future__ import annotations

import re

import ccapki
from kit.cli import REPO

DOC = REPO / "docs" / "api.md"


def _tree() -> dict[str, str]:
    """Each class of the tree and the class it hangs under."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"^```text\n(CcapkiError\n.*?)^```", text, re.S | re.M)
    assert found
    parents: dict[str, str] = {}
    stack = ["CcapkiError"]
    for line in found.group(1).splitlines()[1:]:
        entry = re.match(r"^([│ ]*)[├└]── (\w+)", line)
        assert entry, line
        depth = len(entry.group(1)) // 4 + 1
        del stack[depth:]
        parents[entry.group(2)] = stack[-1]
        stack.append(entry.group(2))
    return parents


def test_every_exported_error_under_its_base() -> None:
    exported = {
        name: obj
        for name in dir(ccapki)
        if isinstance(obj := getattr(ccapki, name), type)
        and issubclass(obj, ccapki.CcapkiError)
        and obj is not ccapki.CcapkiError
    }
    assert {name: cls.__mro__[1].__name__ for name, cls in exported.items()} == _tree()
