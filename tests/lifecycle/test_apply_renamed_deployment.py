"""``apply`` of a file whose ``[deployment]`` name was changed.

A deployment's name is its key in the store: a file naming a deployment the store does not
hold is a new deployment. Before: an administrator who renamed the deployment in the file
(tidying it, say) and applied it got a second, separate PKI for the same appliances, with
exit 0 and one line of output among dozens: a new root CA named as the first deployment's
(two roots of one name for the clients), a new certificate for every appliance, every
trust store to fill again; the first deployment kept beside it. Now apply refuses, before
anything is written, when another deployment plans any of the file's host names or
addresses, and names both ways on: the old name back, or ``--new-deployment`` for a second
PKI on purpose. ``--dry-run`` says the same as a warning. A new name for other appliances is
a new deployment as before.
"""

from __future__ import annotations

from pathlib import Path

from kit.cli import Cli, db_bytes, deployment, error_with_hint, ok, standalone, write

FIRST = deployment(name="campus", cas=[standalone("cas1", "10.1.0.1")])


def test_a_renamed_file_is_refused_and_nothing_is_written(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", write(tmp_path / "d.toml", FIRST)))
    renamed = write(tmp_path / "d.toml", FIRST.replace('name = "campus"', 'name = "campus-2026"'))
    before = db_bytes(keyfile_store)

    r = error_with_hint(cli("apply", renamed))
    assert r.out == ""
    error = r.err.splitlines()[0]
    assert "names deployment 'campus-2026', which this store does not hold" in error
    assert "deployment 'campus' plans the same appliances" in error
    assert "cam.example.org, cas1.example.org, 10.0.0.1 +1" in error  # names, then addresses
    assert "a second, separate PKI" in error
    hint = r.err.splitlines()[1]
    assert f'put `name = "campus"` back under [deployment] in {renamed}' in hint
    assert "--new-deployment" in hint
    assert db_bytes(keyfile_store) == before  # nothing written
    assert [d["name"] for d in ok(cli("deployments", "--json")).json()] == ["campus"]

    # --dry-run: the same words, as a warning, and what it would do
    r = ok(cli("apply", renamed, "--dry-run"))
    assert r.err.startswith("warning: "), r.err
    assert "\nhint: " in r.err, r.err
    assert "would be a new deployment campus-2026" in r.out

    # plan says it too (it reads only)
    r = ok(cli("plan", renamed))
    assert r.err.startswith("warning: "), r.err
    assert "`apply` refuses it" in r.err, r.err

    # the hint's first way: the old name back, and apply has nothing to do
    r = ok(cli("apply", write(tmp_path / "d.toml", FIRST)))
    assert "nothing to do" in r.out, r.out


def test_new_deployment_makes_the_second_pki_on_purpose(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", write(tmp_path / "a.toml", FIRST)))
    second = write(tmp_path / "b.toml", FIRST.replace('name = "campus"', 'name = "staging"'))
    r = ok(cli("apply", second, "--new-deployment"))
    assert "new deployment staging in this store, beside campus" in r.out, r.out
    assert "issued cas1 v1" in r.out, r.out
    names = sorted(d["name"] for d in ok(cli("deployments", "--json")).json())
    assert names == ["campus", "staging"]
    # held from now on: a later apply needs no flag
    ok(cli("apply", second))


def test_a_new_name_for_other_appliances_is_a_new_deployment(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    ok(cli("apply", write(tmp_path / "a.toml", FIRST)))
    other = deployment(
        name="hospital",
        cam=standalone("hcam", "10.9.0.1"),
        cas=[standalone("hcas1", "10.9.1.1")],
    )
    r = ok(cli("apply", write(tmp_path / "h.toml", other)))
    assert "warning" not in r.err, r.err
    assert "new deployment hospital in this store, beside campus" in r.out, r.out
    # another site numbering its appliances alike (private addresses), named otherwise
    alike = deployment(
        name="clinic",
        cam=standalone("ccam", "10.0.0.1"),
        cas=[standalone("ccas1", "10.1.0.1")],
    )
    r = ok(cli("apply", write(tmp_path / "c.toml", alike)))
    assert "warning" not in r.err, r.err
    # a file naming no host: its addresses decide
    bare = (
        '[deployment]\nname = "bare"\nrelease = "4.8.0"\norganization = "B"\n'
        'source = "internal"\n[cam]\nname = "bcam"\nip = "10.9.0.1"\n'
    )
    r = error_with_hint(cli("apply", write(tmp_path / "bare.toml", bare)))
    assert "deployment 'hospital' plans the same appliances (10.9.0.1)" in r.err, r.err
    # and with the case of a host name changed, the names still match
    shout = FIRST.replace('name = "campus"', 'name = "other"').replace(
        "cas1.example.org", "CAS1.example.org"
    )
    shout = (
        shout.replace("cam.example.org", "elsewhere.example.org")
        .replace("10.0.0.1", "10.7.0.1")
        .replace("10.1.0.1", "10.7.1.1")
    )
    r = error_with_hint(cli("apply", write(tmp_path / "s.toml", shout)))
    assert "plans the same appliances (cas1.example.org)" in r.err, r.err
