"""Walkthrough item 23: ``apply`` says what it did, and warns when the file drops something.

- Trust-store lines are done when printed: "added root CA ... to CAS cas1: ..." (``trust
  plan`` keeps the imperative "add ...", it only proposes).
- A file that no longer names an identity the store holds: a warning naming it, saying it
  is kept (nothing is deleted); the rest of the run is unchanged.
- A file whose ``[deployment]`` name differs from the one the store last applied is another
  deployment (issue 11). When another deployment plans the same appliances, its name was
  most likely changed: apply refuses (a second PKI for the same appliances, CAs named as the
  first's), naming both fixes (tests/lifecycle/test_apply_renamed_deployment.py); with
  ``--new-deployment`` it says it made a new one beside the first, with no warning, and
  issues its identities without touching the first's.
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import CliRunner, ok, standalone, write

from .conftest import deployment

THREE = deployment(cas=[standalone("cas1", "10.1.0.1"), standalone("cas2", "10.2.0.1")])
TWO = deployment(cas=[standalone("cas1", "10.1.0.1")])


def test_trust_store_lines_say_added(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli("init"))
    r = ok(cli("apply", write(tmp_path / "d.toml", THREE)))
    trust_lines = [line for line in r.out.splitlines() if "Trusted Certificate Authorities" in line]
    assert trust_lines, r.out
    for line in trust_lines:
        assert line.startswith("added root CA "), line
        assert " to CAS " in line or " to CAM " in line, line
    # trust plan, which only proposes, keeps the imperative (nothing to propose here)
    assert not [x for x in r.out.splitlines() if x.startswith("add ")], r.out


def test_a_dropped_identity_is_named_and_kept(cli: CliRunner, tmp_path: Path, home: Path) -> None:
    ok(cli("init"))
    ok(cli("apply", write(tmp_path / "three.toml", THREE)))
    two = write(tmp_path / "two.toml", TWO)
    for args in (("apply", two, "--dry-run"), ("apply", two)):
        r = ok(cli(*args))
        warnings = [x for x in r.err.splitlines() if x.startswith("warning: ")]
        assert len(warnings) == 1, r.err
        [w] = warnings
        assert "cas2" in w, w
        assert "cas1" not in w, w
        assert "no longer names" in w, w
        assert "kept" in w, w
        assert "nothing to do" in r.out or "would" not in r.out, r.out
    # really kept
    r = ok(cli("inspect", "cas2"))
    assert "cas2" in r.out
    js = ok(cli("apply", two, "--json")).json()
    assert js["not_in_file"] == ["cas2"]
    # a file naming every identity again: no warning
    r = ok(cli("apply", write(tmp_path / "three.toml", THREE)))
    assert "warning" not in r.err, r.err


def test_another_deployment_name_is_a_new_deployment(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli("init"))
    ok(cli("apply", write(tmp_path / "a.toml", TWO)))
    first = ok(cli("--deployment", "wf", "inspect", "cas1", "--format", "json")).json()
    renamed = write(tmp_path / "b.toml", TWO.replace('name = "wf"', 'name = "campus"'))
    r = ok(cli("apply", renamed, "--new-deployment"))
    assert "warning" not in r.err, r.err
    assert "new deployment campus in this store, beside wf" in r.out, r.out
    assert "issued cas1 v1" in r.out, r.out  # its own identities, not wf's
    again = ok(cli("--deployment", "wf", "inspect", "cas1", "--format", "json")).json()
    assert again == first
    # applying it again says nothing more
    r = ok(cli("apply", renamed))
    assert "warning" not in r.err, r.err
    assert "new deployment" not in r.out, r.out
    assert "nothing to do" in r.out, r.out
