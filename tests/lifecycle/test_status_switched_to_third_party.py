"""``status`` of an identity the deployment file moved to a third-party CA.

Before: after `apply` of a file giving cas1 ``source = "third-party"`` (it had an internal
certificate), `plan` said `csr` for it while `status` listed it `ok` with no note, exit 0:
nothing said that `apply` would never renew that certificate again. Now its row says so and
names the next step; once a CSR is pending its own row says the rest."""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, deployment, ok, standalone, write


def test_the_row_says_apply_renews_it_no_more_and_names_the_csr(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    internal = deployment(cas=[standalone("cas1", "10.1.0.1")])
    ok(cli("apply", write(tmp_path / "d.toml", internal)))
    moved = deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")])
    r = ok(cli("apply", write(tmp_path / "d.toml", moved)))
    assert "cas1" in r.out
    assert "csr" in ok(cli("plan", tmp_path / "d.toml")).out

    r = cli("status")
    row = next(line for line in r.out.splitlines() if " cas1 " in f" {line} ")
    note = r.out.split(row, 1)[1].splitlines()[1]
    assert "the deployment file gives it source third-party now" in note, r.out
    assert "`apply` no longer renews this internal certificate" in note
    assert "`ccapki csr cas1`" in note
    body = cli("status", "--json").json()
    (item,) = [i for i in body["items"] if i["name"] == "cas1"]
    assert "source third-party now" in item["note"]

    # with its CSR made, the CSR's row speaks; the identity's row no longer repeats it
    ok(cli("csr", "cas1", "--out", tmp_path / "csr"))
    body = cli("status", "--json").json()
    (item,) = [i for i in body["items"] if i["name"] == "cas1" and i["kind"] == "identity"]
    assert "source third-party now" not in item["note"], item
    assert any(i["kind"] == "csr" and i["name"] == "cas1" for i in body["items"])
