"""docs/backup-format.md's table of records names every table a backup holds, in the order
it holds them, with every field a record carries (walkthrough F: the table lacked
`ca_token_keys`, the deployments' `facts`, the CAs' and trust entries' `not_after`, and the
audit log's `deployment` and `actor`, all written by `ccapki backup create`)."""

from __future__ import annotations

import re

from ccapki.lifecycle.backups import TABLES
from ccapki.store import schema
from kit.cli import REPO

DOC = REPO / "docs" / "backup-format.md"
#: a row of the records table: | `t` | rows | fields |
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$")
#: columns a record never carries: the sealed form of a key travels as `der` instead
SEALED = {"id", "nonce", "sealed"}
#: fields a record carries beyond its table's columns
EXTRA = {"keys": {"der"}, "acme_accounts": {"der"}, "acme_orders": {"account"}}


def _documented() -> dict[str, set[str]]:
    """Each documented table and the field names its row lists (the first word of each
    comma-separated item, `and `der`: ...` as `der`)."""
    rows: dict[str, set[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        found = ROW.match(line)
        if not found or found.group(1) == "t":
            continue
        fields = set()
        # a parenthesis explains, and so does what follows `field`: (its description)
        cell = re.sub(r"(`\w+`):.*", r"\1", re.sub(r"\([^)]*\)", "", found.group(2)))
        for item in cell.split(","):
            word = re.match(r"\s*(?:and\s+)?`?(\w+)`?", item)
            assert word, item
            fields.add(word.group(1))
        rows[found.group(1)] = fields
    return rows


def test_the_tables_in_order() -> None:
    assert list(_documented()) == list(TABLES)


def test_every_field_of_every_record() -> None:
    documented = _documented()
    for name in TABLES:
        columns = {c.name for c in schema.metadata.tables[name].columns} - SEALED
        assert documented[name] == columns | EXTRA.get(name, set()), name
