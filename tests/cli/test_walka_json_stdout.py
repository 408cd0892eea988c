"""Walkthrough A (a script author reading ``--json``): standard output is one JSON document.

``lab up --json`` printed its line for a person ("lab up: deployment campus, pid ...")
on standard output before the JSON, so ``json.loads`` of it failed; that line now goes to
standard error and the JSON carries the deployment, the pid and the log. ``keys list
--json`` wrote ``created_at`` as ``2026-11-29 10:32:46+00:00`` (Python's ``str``), where
every other timestamp of the JSON output is ISO 8601 (``...T10:32:46+00:00``). ``trust
plan --json`` gave each change as action, appliance and text only: a script could not tell
which certificate to upload (the text's removals give its fingerprint), nor match it to
``trust list --json``; each change now has its subject, fingerprint and expiry. ``apply
--json`` listed the identities issued by name only, where the text says "issued cas-ha v1
(expires ...)": ``certificates`` gives each one's version, expiry and fingerprint.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import Cli, deployment, ha_pair, ok, standalone, write

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def test_lab_up_json_prints_only_json_on_stdout(
    cli: Cli, keyfile_store: Path, tmp_path: Path, wall_clock: None
) -> None:
    text = deployment(name="campus", cam=standalone("campus-cam", "10.1.0.1"))
    ok(cli("apply", write(tmp_path / "campus.toml", text)))
    try:
        r = ok(cli("lab", "up", "--interval", "1", "--json"))
        doc = json.loads(r.out)  # before the fix: "lab up: deployment campus, ..." first
        assert doc["deployment"] == "campus"
        assert isinstance(doc["pid"], int)
        assert doc["log"].endswith("lab.log")
        assert doc["running"] is True
        assert "lab up: deployment campus" in r.err
        # the keys of lab status --json, and the same deployment
        status = ok(cli("lab", "status", "--json")).json()
        assert set(status) <= set(doc)
        assert status["deployment"] == doc["deployment"]
    finally:
        cli("lab", "down")


def test_keys_list_json_timestamps_are_iso_8601(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(name="campus", cam=standalone("campus-cam", "10.1.0.1"))
    ok(cli("apply", write(tmp_path / "campus.toml", text)))
    rows = ok(cli("keys", "list", "--json")).json()
    assert rows
    for row in rows:
        assert ISO.fullmatch(row["created_at"]), row["created_at"]
        assert dt.datetime.fromisoformat(row["created_at"]).tzinfo is not None
    applied = ok(cli("deployments", "--json")).json()[0]["last_applied"]
    assert ISO.fullmatch(applied), applied  # the form the other commands already use


def test_trust_plan_json_names_the_certificate_of_each_change(
    cli: Cli, keyfile_store: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    text = deployment(name="campus", cas=[ha_pair("cas-ha", "10.9.1", source="third-party")])
    ok(cli("apply", write(tmp_path / "campus.toml", text)))
    ok(cli("csr", "cas-ha", "--out", tmp_path))
    cert = outside.sign_csr(x509.load_pem_x509_csr((tmp_path / "cas-ha.csr").read_bytes()))
    answer = pem(cert) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / "cas-ha.pem", answer)))
    ok(cli("trust", "add", "cam", write(tmp_path / "root.pem", pem(outside.root))))
    changes = ok(cli("trust", "plan", "--json")).json()
    assert {c["appliance"] for c in changes} == {"cas-ha-a", "cas-ha-b"}
    root = outside.root
    for c in changes:
        assert c["subject"] == root.subject.rfc4514_string()  # before: KeyError
        assert dt.datetime.fromisoformat(c["not_after"]) == root.not_valid_after_utc
    # the same certificate, by the same key, as trust list --json shows it once added
    ok(cli("trust", "apply"))
    listed = ok(cli("trust", "list", "cas-ha-a", "--json")).json()
    assert changes[0]["fingerprint"] in {e["fingerprint"] for e in listed}


def test_apply_json_gives_the_version_and_expiry_the_text_gives(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    text = deployment(name="campus", cas=[ha_pair("cas-ha", "10.9.1")])
    path = write(tmp_path / "campus.toml", text)
    doc = ok(cli("apply", path, "--json")).json()
    assert sorted(doc["issued"]) == ["cam", "cas-ha"]
    by_name = {c["identity"]: c for c in doc["certificates"]}  # before: KeyError
    assert sorted(by_name) == ["cam", "cas-ha"]
    for name, c in by_name.items():
        shown = ok(cli("inspect", name, "--json")).json()
        assert c["version"] == 1
        assert c["not_after"] == shown["not_after"]
        assert c["fingerprint"] == shown["sha256"].replace(":", "").lower()
    again = ok(cli("apply", path, "--json")).json()
    assert again["issued"] == []
    assert again["certificates"] == []
