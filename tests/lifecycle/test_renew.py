"""Issue 12 item 2: renewal from each source, by key policy, in the order that breaks nothing.

Real passphrase stores (see conftest), real certificates: the outside CA of
``kit.certs.OutsideCA`` answers the third-party CSRs. Dates are the fixed clock plus days;
the writing runs use the suite's test-only opt-in for the moved clock.
"""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

import ccapki
from ccapki.errors import Interrupted
from ccapki.lifecycle.renew import commit_renewal
from ccapki.pki.certs import display_name
from ccapki.pki.issue import Issuer, make_intermediate_ca, make_root_ca
from ccapki.pki.keys import KeyType, generate_key, public_key_fingerprint
from ccapki.store import Store
from kit.certs import NOW, OutsideCA, pem
from kit.cli import PASSPHRASE, CliRunner, ha_pair, ok, standalone, write

from .conftest import THIRD_PARTY_DEP, deployment, open_store

KEEP = '\n[renewal]\nkey = "keep"\n'


def dep(source: str = "internal", release: str = "4.8.0") -> str:
    """A CAM HA pair, a CAS HA pair and a standalone CAS, all from ``source``."""
    return deployment(
        release=release,
        source=source,
        cam=ha_pair("cam", "10.0.0"),
        cas=[ha_pair("cas-ha", "10.5.0"), standalone("cas-one", "10.6.0.1")],
    )


def store_at(home: Path, now: dt.datetime) -> Store:
    return Store.open(home, passphrase=lambda: PASSPHRASE, clock=lambda: now)


def history(home: Path, name: str) -> list[tuple[int, str, str]]:
    """(version, fingerprint, key SPKI) of every version of ``name``, oldest first."""
    with open_store(home) as store:
        return [(i.version, i.fingerprint, i.spki) for i in store.identities.history(name)]


def steps(out: str) -> list[tuple[int, str]]:
    """The numbered steps of a plan: (order, text)."""
    found = []
    for line in out.splitlines():
        head, _, text = line.strip().partition(". ")
        if head.isdigit() and text:
            found.append((int(head), text))
    return found


def pending(cli: CliRunner, identity: str) -> list[str]:
    rows = ok(cli("keys", "list", "--json")).json()
    return [r["fingerprint"] for r in rows if r["identity"] == identity and r["state"] == "pending"]


# ---------------------------------------------------------------------------- key policy


@pytest.mark.parametrize("policy", ["rotate", "keep"])
def test_key_policy_keep_signs_the_same_key_rotate_makes_a_new_one(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path, policy: str
) -> None:
    deployed(dep() + (KEEP if policy == "keep" else ""))
    later = NOW + dt.timedelta(days=380)
    r = ok(cli("renew", "--due", "--commit", now=later))
    assert f"(key policy: {policy})" in r.out
    word = "the same key" if policy == "keep" else "a new key"
    assert f"valid 397 days, on {word}" in r.out
    for name in ("cam", "cas-ha", "cas-one"):
        (v1, fp1, spki1), (v2, fp2, spki2) = history(home, name)
        assert (v1, v2) == (1, 2)
        assert fp1 != fp2
        assert (spki1 == spki2) is (policy == "keep"), name
    with open_store(home) as store:
        states = {k.fingerprint: k.state.value for k in store.keys.list()}
        renewals = {e.subject: e.detail for e in store.audit.log(100) if e.action == "renew"}
    for name in ("cam", "cas-ha", "cas-one"):
        (_, _, spki1), (_, _, spki2) = history(home, name)
        assert states[spki2] == "active"
        assert states[spki1] == ("active" if policy == "keep" else "superseded")
        assert renewals[name]["key"] == ("same" if policy == "keep" else "new")
    assert ok(cli("trust", "check", now=later)).out.rstrip().endswith("all pass")


# ---------------------------------------------------------------------------- third party


@pytest.fixture
def third_party(
    cli: CliRunner, deployed: Callable[[str], Path], outside: OutsideCA, tmp_path: Path
) -> Callable[[str], Path]:
    """``third_party(TEXT)``: TEXT applied, cas-tp's certificate from the outside CA
    imported (365 days from the fixed clock), then applied again (trust stores)."""

    def make(text: str) -> Path:
        path = deployed(text)
        ok(cli("csr", "cas-tp", "--out", tmp_path / "csr"))
        answer(cli, outside, tmp_path / "csr" / "cas-tp.csr", NOW, tmp_path / "v1.pem")
        ok(cli("apply", path))
        return path

    return make


def answer(
    cli: CliRunner, outside: OutsideCA, csr_file: Path, at: dt.datetime, dest: Path
) -> x509.Certificate:
    """The outside CA signs ``csr_file`` at ``at``; ``ccapki import`` it at ``at``."""
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    cert = outside.sign_csr(csr, not_before=at - dt.timedelta(hours=1))
    write(dest, pem(cert) + pem(outside.inter) + pem(outside.root))
    ok(cli("import", dest, now=at))
    return cert


def test_a_csr_whose_key_was_retired_never_holds_a_renewal_back(
    cli: CliRunner,
    third_party: Callable[[str], Path],
    home: Path,
    tmp_path: Path,
) -> None:
    """A CSR made by mistake and its key retired (`ccapki keys retire`) awaits nothing:
    `renew --due` makes cas-tp's CSR when it comes due, as `status` says it will, instead of
    skipping cas-tp for "a CSR that awaits the CA's certificate" (seen in a walkthrough:
    the certificate would have expired, nobody warned by the renewal run); `trust check`
    and `status` say no CSR awaits the CA either."""
    from ccapki.lifecycle.trustops import load_inventory

    path = third_party(THIRD_PARTY_DEP)
    day = NOW + dt.timedelta(days=1)  # after the current certificate came
    ok(cli("csr", "cas-tp", "--out", tmp_path / "mistake", now=day))
    (spki,) = pending(cli, "cas-tp")
    ok(cli("keys", "retire", spki[:16], now=day))
    assert pending(cli, "cas-tp") == []

    def awaiting() -> dict[str, dt.datetime]:
        with open_store(home) as store:
            dep = ccapki.load_deployment(path)
            with store.scoped(dep.name):
                return load_inventory(store, dep).awaiting

    assert awaiting() == {}  # what trust check and its fixes read
    later = NOW + dt.timedelta(days=350)  # cas-tp: 15 days left
    status = cli("status", now=later).out  # exit 1: something is due
    assert "next: make its CSR and send it to the CA" in status
    dry = ok(cli("renew", "--due", now=later))
    assert "skipped cas-tp" not in dry.out
    assert [t.split()[1] for o, t in steps(dry.out) if o == 2] == ["cas-tp"]
    assert "a new CSR on a new pending key" in dry.out
    out = tmp_path / "renewal"
    r = ok(cli("renew", "--due", "--commit", "--out", out, now=later))
    assert (out / "cas-tp.csr").exists(), r.out
    assert list(awaiting()) == ["cas-tp"]  # the new CSR awaits the CA


def test_third_party_gets_a_csr_and_a_pending_key_then_the_import_makes_it_current(
    cli: CliRunner,
    third_party: Callable[[str], Path],
    outside: OutsideCA,
    home: Path,
    tmp_path: Path,
) -> None:
    third_party(THIRD_PARTY_DEP)
    later = NOW + dt.timedelta(days=350)  # cas-tp: 15 days left; the internal ones: 47
    before = history(home, "cas-tp")
    assert len(before) == 1
    dry = ok(cli("renew", "--due", now=later))
    assert [t.split()[1] for o, t in steps(dry.out) if o == 2] == ["cas-tp"]
    assert "a new CSR on a new pending key" in dry.out
    assert "the current certificate stays current until `ccapki import`" in dry.out
    out = tmp_path / "renewal"
    r = ok(cli("renew", "--due", "--commit", "--out", out, now=later))
    csr_file = out / "cas-tp.csr"
    assert f"wrote {csr_file} for cas-tp (key " in r.out
    assert "sealed, pending)" in r.out
    assert "next: send each CSR to its CA and `ccapki import`" in r.out
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    spki = public_key_fingerprint(csr.public_key())
    assert pending(cli, "cas-tp") == [spki]
    assert spki != before[0][2]
    assert history(home, "cas-tp") == before  # the current certificate is unchanged
    # the CSR awaits the CA: a second --due leaves it alone, naming it renews it anyway
    again = ok(cli("renew", "--due", now=later))
    assert "skipped cas-tp: a CSR made on" in again.out
    assert "awaits the CA's certificate" in again.out
    assert "nothing else to renew" in again.out  # after its skipped line
    answer(cli, outside, csr_file, later, tmp_path / "v2.pem")
    after = history(home, "cas-tp")
    assert [v for v, _, _ in after] == [1, 2]
    assert after[1][2] == spki  # on the pending key, now active
    assert pending(cli, "cas-tp") == []
    assert "nothing to renew" in ok(cli("renew", "--due", now=later)).out
    assert ok(cli("trust", "check", now=later)).out.rstrip().endswith("all pass")


def test_third_party_key_keep_signs_the_csr_with_the_current_key(
    cli: CliRunner,
    third_party: Callable[[str], Path],
    outside: OutsideCA,
    home: Path,
    tmp_path: Path,
) -> None:
    third_party(THIRD_PARTY_DEP + KEEP)
    ((_, fp1, spki1),) = history(home, "cas-tp")
    later = NOW + dt.timedelta(days=10)  # not due: renewed because it is named
    out = tmp_path / "renewal"
    r = ok(cli("renew", "cas-tp", "--commit", "--out", out, now=later))
    assert "a new CSR signed with the current key (key policy keep: no pending key)" in r.out
    assert "(signed with the current key)" in r.out
    csr = x509.load_pem_x509_csr((out / "cas-tp.csr").read_bytes())
    assert csr.is_signature_valid
    assert public_key_fingerprint(csr.public_key()) == spki1
    assert pending(cli, "cas-tp") == []
    assert history(home, "cas-tp") == [(1, fp1, spki1)]
    answer(cli, outside, out / "cas-tp.csr", later, tmp_path / "v2.pem")
    (_, _, a), (v2, fp2, b) = history(home, "cas-tp")
    assert (v2, a, b) == (2, spki1, spki1)
    assert fp2 != fp1


# ---------------------------------------------------------------------------- order


def test_self_signed_renewal_trusts_the_new_certificate_first_and_retires_the_old(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    """4.7.2's true self-signed identities are their own anchors: each renewal is a new
    issuer the peers must trust before it is served."""
    deployed(dep("self-signed", "4.7.2"))
    later = NOW + dt.timedelta(days=75)  # 90-day certificates: 15 days left
    r = ok(cli("renew", "--due", now=later))
    # in words (it said "a new certificate from self-signed": found in a walkthrough)
    renewals = [ln for ln in r.out.splitlines() if ln.strip().startswith("2. renew cam ")]
    assert renewals, r.out
    assert "-> a new self-signed certificate, valid 90 days" in renewals[0], renewals
    assert "from self-signed" not in r.out, r.out
    plan = steps(r.out)
    assert [o for o, _ in plan] == sorted(o for o, _ in plan)
    ones = [t for o, t in plan if o == 1]
    assert any(
        t.startswith("add the CAM cam's certificate (true self-signed) to CAS cas-one")
        for t in ones
    ), ones
    assert any(
        t.startswith("add the CAS cas-ha's certificate (true self-signed) to CAM cam-a")
        for t in ones
    ), ones
    assert [t.split()[1] for o, t in plan if o == 2] == ["cam", "cas-ha", "cas-one"]
    threes = [t for o, t in plan if o == 3]
    assert threes
    assert all(t.startswith("retire the old issuer: remove ") for t in threes)
    ok(cli("renew", "--due", "--commit", now=later))
    assert ok(cli("trust", "check", now=later)).out.rstrip().endswith("all pass")
    # the retirement is left for once the appliances serve the renewals
    prune = ok(cli("trust", "plan", "--prune", now=later)).out
    assert "remove cam.example.org's certificate (true self-signed)" in prune


def _seed_short_lived_internal_ca(home: Path, days: int) -> None:
    """The deployment's internal root and signing CA, made ``days`` before they expire."""
    org = "Workflow Org"
    with open_store(home) as store, store.scoped("wf"):
        rkey = generate_key(KeyType.ECDSA_P384)
        root = make_root_ca(
            f"{org} Clean Access Root CA", rkey, now=NOW, days=days, organization=org
        )
        ikey = generate_key(KeyType.ECDSA_P256)
        inter = make_intermediate_ca(
            Issuer(root, rkey),
            f"{org} Clean Access Appliance CA",
            ikey.public_key(),
            now=NOW,
            days=days,
            organization=org,
        )
        store.cas.add(display_name(root), "internal-root", root, rkey)
        store.cas.add(display_name(inter), "internal-ca", inter, ikey)


def test_a_root_near_its_expiry_gets_a_successor_trusted_before_the_identities_move(
    cli: CliRunner, home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "deployment.toml", dep())
    ok(cli("init"))
    _seed_short_lived_internal_ca(home, 300)
    ok(cli("apply", path))
    later = NOW + dt.timedelta(days=285)  # the root: 15 days left; the identities: 112
    check = cli("trust", "check", now=later)
    assert check.code == 1
    assert "root CA Workflow Org Clean Access Root CA expires on" in check.out
    r = ok(cli("renew", "--due", now=later))
    plan = steps(r.out)
    root2 = "Workflow Org Clean Access Root CA G2"
    assert plan[0] == (
        1,
        f"make a new issuer: {root2} (the internal root CA), replacing Workflow Org Clean "
        "Access Root CA: Workflow Org Clean Access Root CA expires on "
        f"{(NOW + dt.timedelta(days=300)):%Y-%m-%d}, in 15 days, inside its renewal window",
    )
    assert plan[1][1].startswith("make a new issuer: Workflow Org Clean Access Appliance CA G2")
    adds = [t for o, t in plan if o == 1 and t.startswith("add ")]
    assert len(adds) == 5  # every appliance verifies a peer (mutual) or its HA peer
    assert all(t.startswith(f"add root CA {root2} to ") for t in adds)
    idents = [(i, t) for i, (o, t) in enumerate(plan) if o == 2]
    assert [t.split()[1] for _, t in idents] == ["cam", "cas-ha", "cas-one"]
    why = "its issuer Workflow Org Clean Access Appliance CA expires on"
    assert all(why in t for _, t in idents)
    assert all("from Workflow Org Clean Access Appliance CA G2" in t for _, t in idents)
    retire = [(i, t) for i, (o, t) in enumerate(plan) if o == 3]
    assert len(retire) == 5
    assert all(
        t.startswith("retire the old issuer: remove root CA Workflow Org Clean Access Root CA ")
        for _, t in retire
    )
    # in the order: additions, then identities, then retiring
    assert max(i for i, (o, t) in enumerate(plan) if o == 1) < min(i for i, _ in idents)
    assert max(i for i, _ in idents) < min(i for i, _ in retire)
    js = ok(cli("renew", "--due", "--json", now=later)).json()
    assert [n["name"] for n in js["new_issuers"]] == [
        root2,
        "Workflow Org Clean Access Appliance CA G2",
    ]

    c = ok(cli("renew", "--due", "--commit", now=later))
    assert f"created CA {root2}" in c.out
    assert f"added root CA {root2} to CAM cam-a" in c.out
    assert "`ccapki trust apply --prune` retires the old issuer" in c.out
    with store_at(home, later) as store, store.scoped("wf"):
        roots = [x.name for x in store.cas.list("internal-root")]
        current = store.identities.current()
    assert roots == ["Workflow Org Clean Access Root CA", root2]
    for ident in current.values():
        assert ident.version == 2
        assert display_name(ident.chain[-1]) == root2
    assert ok(cli("trust", "check", now=later)).out.rstrip().endswith("all pass")
    # apply carries on under the successors: nothing to do
    assert "nothing to do" in ok(cli("apply", path, "--dry-run", now=later)).out


# ---------------------------------------------------------------------------- API


def test_api_plan_then_commit_leaves_an_identity_another_writer_renewed(
    cli: CliRunner, deployed: Callable[[str], Path], home: Path
) -> None:
    path = deployed(dep())
    d = ccapki.load_deployment(path)
    later = NOW + dt.timedelta(days=380)
    with store_at(home, later) as store:
        stale = ccapki.plan_renewal(store, d, later, names=["cam-b"], due=False)
        assert [i.identity for i in stale.items] == ["cam"]
        fresh = ccapki.plan_renewal(store, d, later, names=["cam"], due=False)
        first = ccapki.commit_renewal(store, d, fresh, later)
        assert [r.identity for r in first.renewed] == ["cam"]
        second = ccapki.commit_renewal(store, d, stale, later)
        assert second.renewed == ()
        assert second.elsewhere == ("cam",)
        assert store.identities.get("cam").version == 2  # type: ignore[union-attr]
        nothing = ccapki.plan_renewal(store, d, later, due=False)
        assert nothing.empty
        assert ccapki.commit_renewal(store, d, nothing, later) == ccapki.RenewalResult()


def test_an_interrupted_commit_keeps_nothing(
    cli: CliRunner, third_party: Callable[[str], Path], home: Path
) -> None:
    """Interrupted at the last moment (while the CSR is handed over, every write done but
    not committed): no new version, CA, key, CSR, trust entry or audit entry is kept."""
    path = third_party(THIRD_PARTY_DEP)
    d = ccapki.load_deployment(path)
    later = NOW + dt.timedelta(days=390)  # every identity due, cas-tp expired

    def counts(store: Store) -> dict[str, int]:
        tables = ("certificates", "keys", "cas", "csrs", "trust_entries", "audit")
        return {t: store.count(t) for t in tables}

    def interrupt(_: object) -> None:
        raise Interrupted(signal.SIGINT)

    with store_at(home, later) as store:
        before = counts(store)
        plan = ccapki.plan_renewal(store, d, later)
        assert [(i.identity, i.action) for i in plan.items] == [
            ("cam", "reissue"),
            ("cas-ha", "reissue"),
            ("cas-tp", "csr"),
        ]
        with pytest.raises(Interrupted) as caught:
            # the lifecycle's: its deliver runs inside the transaction (the API's after)
            commit_renewal(store, d, plan, now=later, deliver=interrupt)
        assert caught.value.hint is not None
        assert caught.value.hint.startswith("nothing was renewed (a renewal is written in one")
        assert counts(store) == before
        done = ccapki.commit_renewal(store, d, ccapki.plan_renewal(store, d, later), later)
        assert [r.identity for r in done.renewed] == ["cam", "cas-ha"]
        assert [(c.identity, c.pending) for c in done.csrs] == [("cas-tp", True)]
        assert counts(store)["certificates"] == before["certificates"] + 2
