"""Several deployments in one store: each apply acts on the deployment its file names,
same-named identities of two deployments stay apart, and commands without a file say
which deployments exist when they need one named (issue 11, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

import ccapki
from ccapki.pki.certs import fingerprint
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store.records import StoredIdentity
from kit.certs import NOW
from kit.cli import FAQ, Cli, error_with_hint, ok, write

CAMPUS = "faq-campus"
HOSPITAL = "hospital"


def hospital_file(tmp_path: Path, source: str = "internal") -> Path:
    """The FAQ's deployment under another name and organisation: the same identity names
    (cam, cas-guest, ...), its own CAs; ``source`` for every identity."""
    text = FAQ.read_text()
    text = text.replace(f'name = "{CAMPUS}"', f'name = "{HOSPITAL}"', 1)
    text = text.replace('organization = "Example University"', 'organization = "Example Hospital"')
    text = text.replace('source = "internal"', f'source = "{source}"', 1)
    assert f'name = "{HOSPITAL}"' in text
    assert "Example Hospital" in text
    return write(tmp_path / "hospital.toml", text)


@pytest.fixture
def two(cli: Cli, keyfile_store: Path, tmp_path: Path) -> Path:
    """A store holding the FAQ's campus and the hospital, both applied."""
    ok(cli("apply", FAQ))
    r = ok(cli("apply", hospital_file(tmp_path), "--new-deployment"))
    assert f"new deployment {HOSPITAL} in this store, beside {CAMPUS}" in r.out
    return keyfile_store


def _identities(home: Path, deployment: str) -> dict[str, StoredIdentity]:
    with ccapki.open_store(home, deployment=deployment) as store:
        return store.identities.current()


def test_two_deployments_with_the_same_identity_names_stay_apart(cli: Cli, two: Path) -> None:
    campus = _identities(two, CAMPUS)
    hospital = _identities(two, HOSPITAL)
    assert (
        set(campus)
        == set(hospital)
        == {
            "cam",
            "cas-dorm",
            "cas-library",
            "cas-guest",
            "cas-clinic",
            "cas-annex",
        }
    )
    for name in campus:
        c, h = campus[name], hospital[name]
        assert (c.version, h.version) == (1, 1)  # neither took the other over
        assert c.fingerprint != h.fingerprint
        assert c.deployment == CAMPUS
        assert h.deployment == HOSPITAL
        org = x509.NameOID.ORGANIZATION_NAME
        assert c.certificate.issuer.get_attributes_for_oid(org)[0].value == "Example University"
        assert h.certificate.issuer.get_attributes_for_oid(org)[0].value == "Example Hospital"
    # each has its own CAs, and an apply of one leaves the other as it is
    with ccapki.open_store(two, deployment=CAMPUS) as store:
        campus_cas = {ca.fingerprint for ca in store.cas.list()}
    with ccapki.open_store(two, deployment=HOSPITAL) as store:
        hospital_cas = {ca.fingerprint for ca in store.cas.list()}
    assert len(campus_cas) == len(hospital_cas) == 2
    assert not campus_cas & hospital_cas
    r = ok(cli("apply", FAQ))
    assert "nothing to do" in r.out
    assert "new deployment" not in r.out
    assert _identities(two, HOSPITAL) == hospital
    listed = ok(cli("deployments", "--json")).json()
    assert [(d["name"], d["identities"]) for d in listed] == [(CAMPUS, 6), (HOSPITAL, 6)]
    assert all(d["last_applied"] == NOW.isoformat() for d in listed)
    text = ok(cli("deployments")).out
    assert text.splitlines()[0].split() == ["DEPLOYMENT", "IDENTITIES", "LAST", "APPLIED"]
    assert {line.split()[0] for line in text.splitlines()[1:]} == {CAMPUS, HOSPITAL}


def test_another_deployment_is_not_taken_over_by_an_apply(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    """The issue's case: a second file whose cas-guest is third-party used to turn the
    first deployment's internal cas-guest into "source changed" and orphan the rest."""
    ok(cli("apply", FAQ))
    before = _identities(keyfile_store, CAMPUS)
    r = ok(
        cli("apply", hospital_file(tmp_path, source="third-party"), "--json", "--new-deployment")
    )
    result = r.json()
    assert result["deployment"] == HOSPITAL
    assert result["new_deployment"] is True
    assert result["not_in_file"] == []  # campus's identities are not "no longer named"
    assert all(a["action"] == "nothing" or "source" not in a["reason"] for a in result["actions"])
    assert _identities(keyfile_store, CAMPUS) == before
    after = _identities(keyfile_store, CAMPUS)["cas-guest"]
    assert after.source == "internal"
    assert after.version == 1
    with ccapki.open_store(keyfile_store, deployment=HOSPITAL) as store:
        assert store.identities.current() == {}  # third-party: nothing issued for it yet
        assert store.keys.list() == []


def test_trust_check_inspect_and_export_act_on_the_named_deployment(
    cli: Cli, two: Path, tmp_path: Path
) -> None:
    campus = _identities(two, CAMPUS)
    hospital = _identities(two, HOSPITAL)
    for dep, held in ((CAMPUS, campus), (HOSPITAL, hospital)):
        check = ok(cli("--deployment", dep, "trust", "check", "--json")).json()
        assert check["ok"] is True
        out = tmp_path / f"{dep}-cas-guest.pem"
        ok(cli("--deployment", dep, "export", "cas-guest", "--format", "cert", "--out", out))
        cert = x509.load_pem_x509_certificate(out.read_bytes())
        assert fingerprint(cert) == held["cas-guest"].fingerprint
        key_out = tmp_path / f"{dep}-cas-guest.key"
        ok(cli("--deployment", dep, "export", "cas-guest", "--format", "key", "--out", key_out))
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(key_out.read_bytes(), None)
        assert public_key_fingerprint(key.public_key()) == held["cas-guest"].spki
        r = cli("inspect", "cas-guest", "--format", "json", env={"CCAPKI_DEPLOYMENT": dep})
        assert ok(r).json()["sha256"].replace(":", "").lower() == held["cas-guest"].fingerprint
    # each deployment's trust stores hold its own root, not the other's
    with ccapki.open_store(two, deployment=HOSPITAL) as store:
        hospital_roots = {ca.fingerprint for ca in store.cas.list("internal-root")}
        trusted = {fingerprint(c) for cs in store.trust.all().values() for c in cs}
    with ccapki.open_store(two, deployment=CAMPUS) as store:
        campus_roots = {ca.fingerprint for ca in store.cas.list("internal-root")}
    assert hospital_roots <= trusted
    assert not campus_roots & trusted


def test_a_command_without_a_deployment_says_which_exist(cli: Cli, two: Path) -> None:
    for args in (("inspect", "cas-guest"), ("trust", "check"), ("export", "cam", "--out", "-")):
        r = error_with_hint(cli(*args))
        assert f"this store holds 2 deployments ({CAMPUS}, {HOSPITAL}) and none was named" in (
            r.err
        )
        assert "--deployment NAME" in r.err
        assert "CCAPKI_DEPLOYMENT" in r.err
        assert "open_store" not in r.err  # (was: "in Python: open_store(...)", in a CLI hint)
    # a Python script is told in its own words
    with ccapki.open_store(two) as store, pytest.raises(ccapki.InputError) as exc:
        store.identities.current()
    assert "open_store(..., deployment=NAME)" in exc.value.hint
    assert "--deployment" not in exc.value.hint
    r = error_with_hint(cli("--deployment", "lab", "inspect", "cas-guest"))
    assert f"no deployment 'lab' (it holds: {CAMPUS}, {HOSPITAL})" in r.err
    # a file names its own deployment: --deployment naming another is refused
    r = error_with_hint(cli("--deployment", HOSPITAL, "plan", FAQ))
    assert f"is deployment '{CAMPUS}', and --deployment" in r.err
    # with one deployment, none needs naming
    ok(cli("deployments"))


def test_ccapki_deployment_in_the_shell_gives_way_to_a_file(cli: Cli, two: Path) -> None:
    """A walkthrough: with CCAPKI_DEPLOYMENT=hospital exported for everyday commands, `plan`
    and `apply` of the campus file were refused ("and --deployment (or CCAPKI_DEPLOYMENT)
    names 'hospital'"). The shell's default is for commands given no file: a file names
    its own deployment; --deployment on the command line still must agree with it."""
    env = {"CCAPKI_DEPLOYMENT": HOSPITAL}
    r = ok(cli("plan", FAQ, "--json", env=env))
    assert r.json()["deployment"] == CAMPUS
    r = ok(cli("apply", FAQ, env=env))
    assert "nothing to do" in r.out
    # commands given no file still act on the shell's deployment
    r = ok(cli("inspect", "cas-guest", "--format", "json", env=env))
    with ccapki.open_store(two, deployment=HOSPITAL) as store:
        held = store.identities.current()["cas-guest"]
    assert r.json()["sha256"].replace(":", "").lower() == held.fingerprint
    r = error_with_hint(cli("--deployment", HOSPITAL, "apply", FAQ, env=env))
    assert f"is deployment '{CAMPUS}', and --deployment names '{HOSPITAL}'" in r.err


def test_one_deployment_is_implied(cli: Cli, keyfile_store: Path) -> None:
    ok(cli("apply", FAQ))
    assert ok(cli("trust", "check", "--json")).json()["ok"] is True
    ok(cli("inspect", "cas-guest"))
    r = ok(cli("--deployment", CAMPUS, "inspect", "cas-guest"))
    assert "cas-guest v1" in r.out


def test_python_api_takes_the_deployment(cli: Cli, two: Path, tmp_path: Path) -> None:
    campus_dep = ccapki.load_deployment(FAQ)
    hospital_dep = ccapki.load_deployment(tmp_path / "hospital.toml")
    with ccapki.open_store(two) as store:
        # functions given a deployment act on it, whatever the store was opened with
        assert ccapki.check_trust(store, campus_dep).ok
        assert ccapki.check_trust(store, hospital_dep).ok
        assert not ccapki.apply(store, hospital_dep).issued
        actions = ccapki.pending_actions(store, campus_dep)
        assert {a.kind for a in actions} == {ccapki.ActionKind.NOTHING}
        with pytest.raises(ccapki.InputError, match="holds 2 deployments"):
            ccapki.export(store, "cas-guest", "cert")
    with ccapki.open_store(two, deployment=HOSPITAL) as store:
        cert = x509.load_pem_x509_certificate(ccapki.export(store, "cas-guest", "cert"))
        held = store.identities.get("cas-guest")
        assert held is not None
        assert fingerprint(cert) == held.fingerprint
        assert held.deployment == HOSPITAL
    with pytest.raises(ccapki.NotFoundError, match="no deployment 'lab'"):
        ccapki.open_store(two, deployment="lab")


def test_keys_and_csrs_belong_to_their_deployment(cli: Cli, two: Path, tmp_path: Path) -> None:
    ok(cli("--deployment", HOSPITAL, "csr", "cas-clinic", "--out", tmp_path))
    with ccapki.open_store(two, deployment=HOSPITAL) as store:
        pending = [k for k in store.keys.list() if k.state == "pending"]
        assert [k.identity for k in pending] == ["cas-clinic"]
        assert [c.identity for c in store.csrs.list()] == ["cas-clinic"]
    with ccapki.open_store(two, deployment=CAMPUS) as store:
        assert not [k for k in store.keys.list() if k.state == "pending"]
        assert store.csrs.list() == []
    r = ok(cli("--deployment", CAMPUS, "keys", "list", "--json"))
    assert all(k["identity"] != "cas-clinic" or k["state"] != "pending" for k in r.json())
    assert json.dumps(r.json())  # JSON as documented


def _with_header(name: str, extra: str) -> str:
    """The FAQ's deployment named ``name``, with ``extra`` lines in ``[deployment]``."""
    text = FAQ.read_text().replace(f'name = "{CAMPUS}"', f'name = "{name}"\n{extra}', 1)
    assert f'name = "{name}"' in text
    return text


def test_deployments_that_share_their_cas(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    """``[deployment] ca = "shared"``: one set of CAs signs every such deployment (one root
    for clients to trust); the others keep their own."""
    for name in ("north", "south"):
        path = write(tmp_path / f"{name}.toml", _with_header(name, 'ca = "shared"'))
        ok(cli("apply", path, "--new-deployment"))  # (the FAQ's appliances, each time)
    ok(cli("apply", FAQ, "--new-deployment"))  # its own CAs (the default)
    cas = {}
    for name in ("north", "south", CAMPUS):
        with ccapki.open_store(keyfile_store, deployment=name) as store:
            cas[name] = {ca.fingerprint for ca in store.cas.list()}
            issuers = {i.certificate.issuer for i in store.identities.current().values()}
        assert len(cas[name]) == 2
        assert len(issuers) == 1
        assert ok(cli("--deployment", name, "trust", "check", "--json")).json()["ok"] is True
    assert cas["north"] == cas["south"]
    assert not cas["north"] & cas[CAMPUS]
    listed = [d["name"] for d in ok(cli("deployments", "--json")).json()]
    assert listed == [CAMPUS, "north", "south"]  # the shared CAs are no deployment
    # the shared CAs' keys belong to no deployment's key list
    with ccapki.open_store(keyfile_store, deployment="north") as store:
        assert [k for k in store.keys.list() if k.state == "ca"] == []


def test_a_bad_ca_setting_is_refused(cli: Cli, keyfile_store: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", _with_header("bad", 'ca = "both"'))
    r = error_with_hint(cli("plan", path))
    assert "bad.toml:7: deployment.ca: 'both' is not a CA setting" in r.err
    assert 'ca = "shared"' in r.err


def test_deployments_lists_them_whatever_is_named(cli: Cli, two: Path) -> None:
    r = ok(cli("deployments", env={"CCAPKI_DEPLOYMENT": "lab"}))
    assert CAMPUS in r.out
    assert HOSPITAL in r.out


def test_deployments_of_an_empty_store(cli: Cli, keyfile_store: Path) -> None:
    assert "no deployment yet" in ok(cli("deployments")).out
    assert ok(cli("deployments", "--json")).json() == []
