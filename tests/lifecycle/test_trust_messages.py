"""Issue 8 item 15, the trust messages: whose trust store a finding means, a legend for the
``A -> B`` / ``A <- B (client cert)`` notation, one CAM/CAS case line per deployment,
``trust plan --prune`` one entry per certificate, ``--to-source`` only with ``--rotate``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from kit.cli import CliRunner, ha_pair, ok, standalone, write

from .conftest import deployment


def _mixed(cas1_source: str = "self-signed") -> str:
    """A CAM HA pair (internal PKI) and two CAS: cas1 from ``cas1_source``, cas2 internal."""
    return deployment(
        cam=ha_pair("cam", "10.0.0"),
        cas=[
            standalone("cas1", "10.1.0.1", source=cas1_source),
            standalone("cas2", "10.2.0.1"),
        ],
    )


def test_one_case_line_per_deployment(cli: CliRunner, deployed: Callable[[str], Path]) -> None:
    deployed(_mixed())
    out = cli("trust", "check").out
    lines = [line for line in out.splitlines() if line.startswith("CAM/CAS case")]
    assert len(lines) == 1, out
    assert "internal PKI" in lines[0]
    assert "true self-signed" in lines[0]


def test_findings_name_whose_trust_store_and_the_notation_is_explained(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(_mixed(cas1_source="internal"))
    rows = ok(cli("trust", "list", "cas2", "--json")).json()
    for row in rows:
        ok(cli("trust", "remove", "cas2", row["fingerprint"][:20]))
    rows = ok(cli("trust", "list", "cas1", "--json")).json()
    assert len(rows) == 1
    r = cli("trust", "check")
    assert r.code == 1
    findings = [line.strip() for line in r.out.splitlines() if line.startswith("   cas")]
    assert findings, r.out
    assert any("cas2's trust store is empty" in f for f in findings), r.out
    # what to add, named (it said "add the issuer" of an empty store: found in a walkthrough)
    empty = [f for f in findings if "cas2's trust store is empty" in f]
    assert all("add the issuer" not in f for f in empty), empty
    assert all("add Workflow Org Clean Access Root CA" in f for f in empty), empty
    for f in findings:
        assert "the trust store" not in f, f
    legend = [line for line in r.out.splitlines() if line.startswith("legend:")]
    assert len(legend) == 1, r.out
    assert "A -> B" in legend[0]
    assert "A <- B (client cert)" in legend[0]
    assert "A's trust store" in legend[0]
    # a store that holds the wrong anchor: the finding says whose store lacks the root
    js = cli("trust", "check", "--json").json()
    texts = [f for c in js["cells"] for f in c["findings"]]
    assert any("cas2's trust store" in t for t in texts), texts


def test_prune_lists_each_certificate_once_with_fingerprint_expiry_and_stores(
    cli: CliRunner, deployed: Callable[[str], Path], tmp_path: Path
) -> None:
    path = deployed(_mixed())
    old = ok(cli("inspect", "cas1", "--format", "json")).json()
    # cas1 moves to the internal PKI: its old self-signed certificate stays trusted by both
    # CAM peers until pruned
    write(path, _mixed(cas1_source="internal"))
    ok(cli("apply", path))
    r = ok(cli("trust", "plan", "--prune"))
    removes = [line for line in r.out.splitlines() if line.startswith("remove ")]
    assert len(removes) == 1, r.out
    (line,) = removes
    assert old["sha256"].replace(":", "").lower()[:16] in line.replace(":", "").lower(), line
    assert re.search(r"expires \d{4}-\d\d-\d\d", line), line
    assert old["not_after"][:10] in line, line
    stores = r.out[r.out.index(line) :]
    assert "cam-a" in stores
    assert "cam-b" in stores
    # carrying it out removes it from both
    ok(cli("trust", "apply", "--prune"))
    for cam in ("cam-a", "cam-b"):
        fps = [row["fingerprint"] for row in ok(cli("trust", "list", cam, "--json")).json()]
        assert old["sha256"].replace(":", "").lower() not in fps


def test_to_source_without_rotate_is_a_usage_error(
    cli: CliRunner, deployed: Callable[[str], Path]
) -> None:
    deployed(_mixed())
    r = cli("trust", "plan", "--to-source", "internal")
    assert r.code == 2, r.both
    assert r.err.startswith("error: "), r.err
    assert "--rotate" in r.err
