"""``status`` of a CSR older than the one the current certificate answers.

Before: an administrator made two CSRs for cas1 (the first one's answer late), imported the
answer to the second (v2), and `status` still listed the first CSR as pending, "the current
certificate stays in use until the answer is imported", exit 0 with "1 CSR pending", while
`import` refuses that answer ("older than the one cas1 v2 answers ... nothing to import").
Now a CSR made before the one the current certificate answers awaits nothing in status, as
in `import`."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from kit.certs import NOW, OutsideCA, pem
from kit.cli import Cli, deployment, error_with_hint, ok, standalone, write


def test_an_older_csr_than_the_answered_one_is_not_pending(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    import datetime as dt

    outside = OutsideCA.make()
    f = write(
        tmp_path / "d.toml",
        deployment(cas=[standalone("cas1", "10.1.0.1", source="third-party")]),
    )
    ok(cli("apply", f))
    csrs = []
    for n, at in enumerate((NOW, NOW + dt.timedelta(hours=1))):
        out = tmp_path / f"g{n}"
        ok(cli("csr", "cas1", "--out", out, now=at))
        csrs.append(x509.load_pem_x509_csr((out / "cas1.csr").read_bytes()))
    answers = [
        write(
            tmp_path / f"a{n}.pem", b"".join(pem(c) for c in (outside.sign_csr(r), *outside.chain))
        )
        for n, r in enumerate(csrs)
    ]
    later = NOW + dt.timedelta(hours=2)
    ok(cli("import", answers[1], now=later))  # the newer request's answer: v1
    r = error_with_hint(cli("import", answers[0], now=later))  # the older one's, late
    assert "older than the one cas1 v1 answers" in r.err, r.err
    # made within one minute: the times to the second (not "05:26, older than 05:26")
    pair = []
    for n, at in ((2, later), (3, later + dt.timedelta(seconds=20))):
        ok(cli("csr", "cas1", "--out", tmp_path / f"g{n}", now=at))
        req = x509.load_pem_x509_csr((tmp_path / f"g{n}" / "cas1.csr").read_bytes())
        chain = (outside.sign_csr(req), *outside.chain)
        pair.append(write(tmp_path / f"a{n}.pem", b"".join(pem(c) for c in chain)))
    later += dt.timedelta(minutes=1)
    ok(cli("import", pair[1], now=later))  # v2
    r = error_with_hint(cli("import", pair[0], now=later))
    assert "made 2026-11-27 02:00:00 UTC, older than the one cas1 v2 answers (made " in r.err
    assert "02:00:20 UTC)" in r.err, r.err

    body = cli("status", "--json", now=later).json()
    assert not [i for i in body["items"] if i["kind"] == "csr"], body["items"]
    assert body["counts"]["pending"] == 0, body["counts"]
    assert "pending" not in cli("status", now=later).out
