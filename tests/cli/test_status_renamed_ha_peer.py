"""``ccapki status`` of an HA pair whose stored certificate lacks a peer renamed in the
deployment file (the FAQ's cas-dorm and cam pairs on a third-party CA: ``apply`` keeps the
certificate, only the CA can reissue it). ``check-ha`` (not fit for HA: the names row) and
``trust check`` (the renamed peer's admin GUI fails) saw it; ``status`` said everything was
fine (exit 0, --nagios OK). It now warns with check-ha's words (stage ``missing-san``, exit 1,
--nagios WARNING, in --json too) and names the fix: a new CSR, then the CA's answer.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write

PW = "pw-status-renamed-1234"


def _faq(tmp_path: Path, *renamed: tuple[str, str], third_party: tuple[str, ...]) -> Path:
    """The FAQ's deployment, ``third_party`` pairs on a third-party CA, each (old, new)
    peer name of ``renamed`` renamed (its name and hostname)."""
    text = Path(FAQ).read_text()
    for pair in third_party:
        old = f'virtual_hostname = "{pair}.example.edu"'
        assert text.count(old) == 1
        text = text.replace(old, f'{old}\nsource = "third-party"')
    for old, new in renamed:
        was = f'name = "{old}", hostname = "{old}.'
        assert text.count(was) == 1
        text = text.replace(was, f'name = "{new}", hostname = "{new}.')
    return write(tmp_path / "d.toml", text)


def _import_answer(cli: Cli, tmp_path: Path, pair: str, outside: OutsideCA) -> None:
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / f"{pair}.csr").read_bytes())
    bundle = pem(outside.sign_csr(csr)) + pem(outside.inter) + pem(outside.root)
    ok(cli("import", write(tmp_path / f"{pair}-answer.pem", bundle)))


def _issued(cli: Cli, tmp_path: Path, *pairs: str) -> OutsideCA:
    """The FAQ applied with ``pairs`` third-party, each pair's CSR answered and imported."""
    ok(cli("init", "--key-file"))
    ok(cli("apply", _faq(tmp_path, third_party=pairs)))
    outside = OutsideCA.make(now=NOW)
    for pair in pairs:
        ok(cli("csr", pair, "--out", tmp_path / "csr"))
        _import_answer(cli, tmp_path, pair, outside)
    ok(cli("trust", "apply"))
    return outside


def _item(doc: dict[str, object], name: str) -> dict[str, object]:
    items = doc["items"]
    assert isinstance(items, list)
    (found,) = (i for i in items if i["kind"] == "identity" and i["name"] == name)
    assert isinstance(found, dict)
    return found


def test_status_warns_of_a_renamed_secondary_as_check_ha_does(cli: Cli, tmp_path: Path) -> None:
    outside = _issued(cli, tmp_path, "cas-dorm")
    assert ok(cli("status")).out.count("missing-san") == 0

    # the file renamed on disk, not applied yet: the store's file still names cas-dorm-b,
    # and status, check-ha and trust check (which read it) all still pass
    _faq(tmp_path, ("cas-dorm-b", "cas-dorm-c"), third_party=("cas-dorm",))
    ok(cli("status"))
    ok(cli("check-ha", "cas-dorm"))
    ok(cli("trust", "check"))

    # applied: the third-party certificate is kept, lacking the new secondary's name
    ok(cli("apply", tmp_path / "d.toml"))
    ha = cli("check-ha", "cas-dorm")
    assert ha.code == 1, ha.both
    assert "missing: cas-dorm-c.example.edu" in ha.out, ha.out
    check = cli("trust", "check", "--json")
    assert check.code == 1, check.both
    failing = {
        (c["appliance"], c["channel"]) for c in check.json()["cells"] if c["status"] == "fail"
    }
    assert failing == {("cas-dorm-c", "admin-gui")}, failing

    r = cli("status")
    assert r.code == 1, r.both
    row = next(line for line in r.out.splitlines() if " cas-dorm " in f"{line} ")
    assert row.startswith("missing-san"), r.out
    # check-ha's own words: its names row, and the fix it gives
    assert (
        "not fit for HA (names the Service IP, virtual hostname and both peers: missing: "
        "cas-dorm-c.example.edu)" in r.out
    ), r.out
    assert "lacks cas-dorm-c.example.edu in its subjectAltName" in r.out, r.out
    assert "`ccapki csr cas-dorm`" in r.out, r.out
    assert "then install the new one on both peers at once" in ha.out, ha.out
    assert "then install the new one on both peers at once" in r.out, r.out
    assert "summary: 1 identity whose certificate lacks names" in r.out, r.out

    doc = cli("status", "--json").json()
    assert (doc["exit_code"], doc["nagios_code"]) == (1, 1), doc
    item = _item(doc, "cas-dorm")
    assert item["stage"] == "missing-san", item
    assert "missing: cas-dorm-c.example.edu" in str(item["note"]), item
    assert doc["counts"]["warning"] == 1, doc["counts"]

    n = cli("status", "--nagios")
    assert n.code == 1, n.both
    assert n.out.startswith("CCAPKI WARNING - 1 identity whose certificate lacks names"), n.out
    (line,) = [x for x in n.out.splitlines()[1:] if x.startswith("identity cas-dorm:")]
    assert "missing: cas-dorm-c.example.edu" in line, line
    assert "`ccapki csr cas-dorm`" in line, line

    # the new CSR made (for the renamed file): the fix is now the CA's answer to it
    ok(cli("csr", "cas-dorm", "--out", tmp_path / "csr"))
    r = cli("status")
    assert r.code == 1, r.both
    assert "import the CA's answer to its pending CSR" in r.out, r.out
    # answered and imported: fine again, as check-ha
    _import_answer(cli, tmp_path, "cas-dorm", outside)
    ok(cli("trust", "apply"))
    ok(cli("check-ha", "cas-dorm"))
    r = ok(cli("status"))
    assert "missing-san" not in r.out, r.out


def test_status_warns_of_the_cam_pair_with_a_renamed_peer(cli: Cli, tmp_path: Path) -> None:
    _issued(cli, tmp_path, "cam")
    ok(cli("apply", _faq(tmp_path, ("cam-a", "cam-x"), third_party=("cam",))))
    assert cli("check-ha", "cam").code == 1
    doc = cli("status", "--json").json()
    assert doc["exit_code"] == 1, doc
    item = _item(doc, "cam")
    assert item["stage"] == "missing-san", item
    note = str(item["note"])
    assert "missing: cam-x.example.edu" in note, note
    assert "`ccapki csr cam`" in note, note
    # the other pairs (internal: reissued by apply when renamed) are fine
    assert {_item(doc, n)["stage"] for n in ("cas-dorm", "cas-guest", "cas-library")} == {"ok"}


def test_status_of_an_internal_pair_renamed_is_fine_once_apply_reissued_it(
    cli: Cli, tmp_path: Path
) -> None:
    ok(cli("init", "--key-file"))
    ok(cli("apply", _faq(tmp_path, third_party=())))
    ok(cli("apply", _faq(tmp_path, ("cas-dorm-b", "cas-dorm-c"), third_party=())))
    ok(cli("trust", "apply"))
    ok(cli("check-ha", "cas-dorm"))
    r = ok(cli("status"))
    assert "missing-san" not in r.out, r.out
