"""docs/notifications.md says what `ccapki watch` really sends (walkthrough: a `missing`
expiry notice for an identity without a certificate, and trust-root subjects `trust root:
<label>`, were neither in the `stage` field's values nor the subjects it lists)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ccapki.lifecycle.notify import expiry_notices
from ccapki.lifecycle.status import estate_status
from kit.certs import NOW
from kit.cli import FAQ, Cli, ok, write

from .conftest import open_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"

THIRD_PARTY = """
[[cas]]
name = "cas-partner"
hostname = "cas-partner.example.edu"
ip = "10.40.0.10"
source = "third-party"
"""


def test_every_expiry_notice_is_in_the_docs(cli: Cli, tmp_path: Path) -> None:
    ok(cli("init"))
    ok(cli("apply", write(tmp_path / "faq.toml", FAQ.read_text() + THIRD_PARTY)))
    doc = DOC.read_text(encoding="utf-8")
    row = next(line for line in doc.splitlines() if line.startswith("| `stage` |"))
    documented = set(re.findall(r"`([^`]+)`", row))
    late = NOW + dt.timedelta(days=7300)  # the root CA (20 years) within 7 days; all else out
    assert cli.home is not None
    with open_store(cli.home) as store:
        notices = expiry_notices(estate_status(store, now=NOW).items)
        notices += expiry_notices(estate_status(store, now=late).items)
    assert {n.stage for n in notices} >= {"missing", "expired", "7"}
    for n in notices:
        assert n.stage in documented, f"stage {n.stage!r} of {n.subject} is not documented"
        if n.stage == "missing":
            assert (n.fingerprint, n.days_left, n.not_after) == ("none", None, None)
    roots = [n for n in notices if n.kind == "trust-root"]
    assert roots
    for n in roots:
        assert n.subject.startswith("trust root: "), n.subject
    assert '"trust root:\n  <label>"' in doc or '"trust root: <label>"' in doc
    assert "<appliance>: <label>" not in doc
