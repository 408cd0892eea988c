"""Walkthrough 22, item 3: ``ccapki plan NEWFILE`` (not applied yet) told the administrator
to run ``ccapki csr``, which makes the CSR from the file last applied: a CSR for the old
names, stale at once. ``plan`` now names the order (``ccapki apply NEWFILE``, then
``ccapki csr NAME``), and ``csr`` refuses (exit 2, nothing written, no key kept) when the
file meant (``--file``, or the applied file edited on disk since) differs for the
identity; once applied, the CSR names the new names."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


def _text(host: str) -> str:
    text = deployment(
        name="tp",
        cam=standalone("cam", "10.0.0.1"),
        cas=[standalone("cas-tp", "10.6.0.1", source="third-party")],
    )
    return text.replace('hostname = "cas-tp.example.org"', f'hostname = "{host}"')


def _dns(path: Path) -> list[str]:
    req = x509.load_pem_x509_csr(path.read_bytes())
    return req.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)


def _reason(cli: Cli, file: Path) -> str:
    doc = ok(cli("plan", file, "--json")).json()
    (a,) = [a for a in doc["pending_actions"] if a["identity"] == "cas-tp"]
    assert a["action"] == "csr"
    return str(a["reason"])


def test_plan_of_a_new_file_says_apply_first_and_csr_refuses_it(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = write(tmp_path / "campus.toml", _text("cas-tp.example.org"))
    ok(cli("apply", old))
    assert "apply this file first" not in _reason(cli, old)  # the applied file: csr is right
    new = write(tmp_path / "campus-new.toml", _text("portal.example.org"))
    reason = _reason(cli, new)
    assert f"`ccapki apply {new}`), then make the CSR (`ccapki csr cas-tp`)" in reason, reason
    assert "and it differs for cas-tp in its CN, DNS names)" in reason
    csrs = tmp_path / "csrs"
    r = cli("csr", "cas-tp", "--file", new, "--out", csrs)
    error_with_hint(r)
    assert r.code == 2
    assert "is not the deployment file the store last applied" in r.err
    assert f"hint: apply the file first: `ccapki apply {new}`, then `ccapki csr cas-tp`" in r.err
    assert not csrs.exists()
    assert cli("status", "--json").json()["counts"]["pending"] == 0  # no pending key kept

    # edited in place (the path the store recorded), not applied: refused too
    write(old, _text("portal.example.org"))
    r = cli("csr", "cas-tp", "--out", csrs)
    error_with_hint(r)
    assert "was edited since the store applied it" in r.err
    assert not csrs.exists()

    # applied first: the CSR names the new hostname
    ok(cli("apply", new))
    ok(cli("csr", "cas-tp", "--file", new, "--out", csrs))
    assert _dns(csrs / "cas-tp.csr") == ["portal.example.org"]


def test_a_file_that_differs_elsewhere_does_not_stop_the_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    old = write(tmp_path / "campus.toml", _text("cas-tp.example.org"))
    ok(cli("apply", old))
    new = write(
        tmp_path / "more.toml",
        _text("cas-tp.example.org") + '\n[[cas]]\nname = "cas-2"\nhostname = "c2.example.org"\n'
        'ip = "10.7.0.1"\n',
    )
    ok(cli("csr", "cas-tp", "--file", new, "--out", tmp_path / "csrs"))
    assert _dns(tmp_path / "csrs" / "cas-tp.csr") == ["cas-tp.example.org"]
