"""An HA pair with ``san_ips = false`` whose peers have no hostname: the pair's certificate
names neither a peer nor its address, so a browser reaching a peer's own admin GUI at its
address gets a name mismatch. `plan` says so up front (text and JSON), naming the peers and
the fix; a pair whose peers have hostnames, or that keeps its addresses, gets no warning.

Found in a walkthrough: such a file was planned and applied silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from ccapki.topology.loader import parse_deployment
from ccapki.topology.plan import make_plan, unnamed_peers_warning
from kit.cli import Cli, ok, write


def _text(*, san_ips: bool, named: bool, pairs: int = 1) -> str:
    host = 'hostname = "cas{n}-{p}.example.org", ' if named else ""
    lines = [
        "[deployment]",
        'name = "ha"',
        'release = "4.9"',
        "validity_days = 397",
        f"san_ips = {'true' if san_ips else 'false'}",
        "[cam]",
        'name = "cam"',
        'hostname = "cam.example.org"',
        'ip = "10.0.0.1"',
    ]
    for n in range(1, pairs + 1):
        lines += [
            "[[cas]]",
            f'name = "cas{n}"',
            f'virtual_hostname = "cas{n}.example.org"',
            f'service_ip = "10.{n}.0.10"',
            "primary = { " + host.format(n=n, p=1) + f'name = "cas{n}-1", ip = "10.{n}.0.11" }}',
            "secondary = { " + host.format(n=n, p=2) + f'name = "cas{n}-2", ip = "10.{n}.0.12" }}',
        ]
    return "\n".join(lines) + "\n"


def test_plan_warns_of_peers_without_a_name_under_san_ips_false(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "ha.toml", _text(san_ips=False, named=False))
    r = ok(cli("plan", str(path)))
    first = r.out.splitlines()[0] if r.out.startswith("warning:") else r.err.splitlines()[0]
    assert first == (
        "warning: san_ips = false leaves the addresses out of the certificate of the HA pair "
        "cas1, and the peers cas1-1 (10.1.0.11), cas1-2 (10.1.0.12) have no hostname: a "
        "browser reaching a peer's own admin GUI at its address gets a name mismatch (the "
        "pair, by its virtual hostname, is not affected); fix: give each peer a hostname in "
        'the deployment file (primary = { name = ..., hostname = "...", ip = "..." }), or '
        "leave san_ips out"
    )
    data = json.loads(ok(cli("plan", "--json", str(path))).out)
    assert data["warnings"] == [first.removeprefix("warning: ")]


def test_many_pairs_are_counted_not_all_named() -> None:
    dep = parse_deployment(_text(san_ips=False, named=False, pairs=5), "<t>")
    said = unnamed_peers_warning(dep)
    assert said is not None
    assert "HA pairs cas1, cas2, cas3 and 2 more," in said
    assert "the peers cas1-1 (10.1.0.11), cas1-2 (10.1.0.12), cas2-1 (10.2.0.11), 7 more " in said


def test_no_warning_when_the_peers_are_named_or_the_addresses_kept() -> None:
    for text in (_text(san_ips=False, named=True), _text(san_ips=True, named=False)):
        dep = parse_deployment(text, "<t>")
        assert unnamed_peers_warning(dep) is None
        assert make_plan(dep).warnings == ()
