"""Walkthrough V: the service's status pages, the dashboard's inventory and its expiry
timeline agree with ``ccapki status --json`` for the CRITICAL stages that are not
``expired``: a third-party certificate dated ahead (``not-yet-valid``, imported with
``--force``) and a stored certificate damaged on disk (``damaged``).

Before: ``GET /api/v1/status?stage=not-yet-valid`` (and ``damaged``) was a 422 ("not one a
status item can be in") though ``stages`` counted them; ``?stage=critical`` left the
damaged certificate out (``--nagios`` says CRITICAL) and ``?stage=warning`` kept both
(``counts.warning`` does not); the timeline drew the damaged certificate amber."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from sqlalchemy import text

from ccapki.service.app import create_app
from ccapki.store.records import ProbeRecord, ProbeVerdict
from ccapki.store.session import Store
from kit.certs import NOW, OutsideCA, pem
from kit.cli import FAQ, Cli, ok, write
from kit.pgmode import store_sql
from kit.service import EXTRA_THIRD_PARTY, PASSWORDS, add_users, config_for, login, running

START = NOW + dt.timedelta(days=3)


def _estate(cli: Cli, home: Path, tmp_path: Path, outside: OutsideCA) -> dict[str, Any]:
    """cas-aaa (third-party) dated ahead and imported with --force; cam's stored
    certificate overwritten on disk. Returns ``ccapki status --json``."""
    f = write(tmp_path / "faq-extra.toml", FAQ.read_text() + EXTRA_THIRD_PARTY)
    ok(cli("apply", f))
    ok(cli("csr", "cas-aaa", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-aaa.csr").read_bytes())
    cert = outside.sign_csr(csr, not_before=START)
    answer = write(tmp_path / "a.pem", b"".join(pem(c) for c in (cert, *outside.chain)))
    ok(cli("import", answer, "--force"))
    other = outside.sign_csr(csr)  # another certificate's PEM in cam's row
    with store_sql(home) as conn:  # either backend
        changed = conn.execute(
            text("UPDATE certificates SET pem = :pem WHERE identity = 'cam'"),
            {"pem": pem(other).decode()},
        ).rowcount
    assert changed >= 1
    with Store.open(home, clock=lambda: NOW) as store:  # cas-clinic served an older one
        store.probes.add(
            [ProbeRecord("cas-clinic", "agent", "127.0.0.1:8443", NOW, ProbeVerdict.STALE)]
        )
    r = cli("status", "--json")
    assert r.code == 1, r.both
    body: dict[str, Any] = r.json()
    assert body["counts"]["wrong_served"] == 1, body["counts"]
    return body


def _rows(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of ``status --json`` as its table lists them: a root once."""
    seen = {i["fingerprint"] for i in status["items"] if i["kind"] == "identity"}
    out = []
    for i in status["items"]:
        if i["kind"] == "trust-root":
            if i["fingerprint"] in seen:
                continue
            seen.add(i["fingerprint"])
        out.append(i)
    return out


def test_status_pages_and_dashboard_agree_on_not_yet_valid_and_damaged(
    cli: Cli,
    service_home: tuple[Path, dict[str, str]],
    tmp_path: Path,
    outside: OutsideCA,
) -> None:
    home, tokens = service_home
    status = _estate(cli, home, tmp_path, outside)
    stages = {i["name"]: i["stage"] for i in status["items"] if i["kind"] == "identity"}
    assert stages["cas-aaa"] == "not-yet-valid", stages
    assert stages["cam"] == "damaged", stages
    assert status["nagios_code"] == 2

    app = create_app(config_for(home))
    with running(app) as url:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['viewer']}"}, timeout=60
        ) as c:

            def names(stage: str) -> set[str]:
                r = c.get("/api/v1/status", params={"stage": stage, "limit": 500})
                assert r.status_code == 200, r.text
                page = r.json()
                assert page["counts"] == status["counts"]
                assert page["total"] == len(page["items"])
                if "," not in stage:
                    assert page["stages"][stage] == page["total"], page["stages"]
                return {i["name"] for i in page["items"]}

            assert names("not-yet-valid") == {"cas-aaa"}
            assert names("damaged") == {"cam"}
            assert names("NOT-YET-VALID,damaged") == {"cas-aaa", "cam"}
            assert names("critical") == {"cas-aaa", "cam", "cas-clinic"}  # as --nagios
            assert names("wrong") == {"cas-clinic"}
            warned = names("warning")
            assert not warned & {"cas-aaa", "cam"}, warned
            assert len(warned) == status["counts"]["warning"]
            # the identities API says each stage as status does (before: "ok" for cam)
            r = c.get("/api/v1/deployments/faq-campus/identities", params={"limit": 500})
            assert r.status_code == 200, r.text
            api = {i["name"]: i for i in r.json()["items"]}
            assert {n: i["stage"] for n, i in api.items()} == stages
            assert "run `ccapki doctor`" in api["cam"]["note"]
            r = c.get("/api/v1/status", params={"stage": "soon"})
            assert r.status_code == 422, r.text
            assert "not-yet-valid" in r.json()["hint"]
            assert "damaged" in r.json()["hint"]

        with httpx.Client(base_url=url, timeout=60) as browser:
            assert login(browser, "viewer", PASSWORDS["viewer"]).status_code in (200, 303)
            page = browser.get("/inventory")
            assert page.status_code == 200, page.text
            html = page.text
            # the table: both red, in the words that say what to do
            assert re.search(r'st-damaged">stored certificate damaged', html), html
            assert re.search(r'st-not-yet-valid">not valid yet', html), html
            # the timeline: cam's bar red as expired, not amber as a warn stage
            bar = re.search(r'<g class="bar stage-(\w[\w-]*)"><title>cam \(identity\)', html)
            assert bar is not None, html
            assert bar.group(1) == "damaged", html
            # its bar's words say why it is red
            assert re.search(
                r"cam \(identity\): expires [^<]*, stored certificate damaged, \d+ days", html
            )
            assert re.search(r"cas-aaa \(identity\): expires [^<]*, not valid yet, \d+ days", html)
            # the rows `ccapki status` lists (a root once, saying where it is trusted), not
            # one per appliance holding it, in the table and the timeline alike
            body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
            assert body.count("<tr>") == status["counts"]["items"], body
            dated = sum(1 for i in _rows(status) if i["not_after"] is not None)
            assert f"Expiry timeline: {dated} certificates by expiry date" in html
            assert "(on 12 appliances: cam-a, cam-b, cas-aaa, cas-annex +8)" in html, body
            overview = browser.get("/").text
            assert re.search(r'class="n">1</span>not valid yet', overview), overview
            assert re.search(r'class="n">1</span>stored certificates damaged', overview)
            assert re.search(r'class="n">1</span>wrong certificates served', overview)


def test_a_renamed_ha_peer_is_missing_san_everywhere(
    cli: Cli, home: Path, tmp_path: Path, outside: OutsideCA
) -> None:
    """cas-dorm on a third-party CA, its secondary renamed in the file and applied: the
    certificate lacks the new name (stage missing-san) in status, the status pages, the
    identities API and the inventory page alike."""
    text = FAQ.read_text()
    dorm = 'virtual_hostname = "cas-dorm.example.edu"'
    text = text.replace(dorm, f'{dorm}\nsource = "third-party"')
    ok(cli("init", "--key-file"))
    ok(cli("apply", write(tmp_path / "d.toml", text)))
    ok(cli("csr", "cas-dorm", "--out", tmp_path / "csr"))
    csr = x509.load_pem_x509_csr((tmp_path / "csr" / "cas-dorm.csr").read_bytes())
    bundle = b"".join(pem(c) for c in (outside.sign_csr(csr), *outside.chain))
    ok(cli("import", write(tmp_path / "answer.pem", bundle)))
    was = 'name = "cas-dorm-b", hostname = "cas-dorm-b.'
    ok(cli("apply", write(tmp_path / "d.toml", text.replace(was, was.replace("-b", "-c")))))
    r = cli("status", "--json")
    assert r.code == 1, r.both
    status: dict[str, Any] = r.json()
    stages = {i["name"]: i["stage"] for i in status["items"] if i["kind"] == "identity"}
    assert stages["cas-dorm"] == "missing-san", stages
    with Store.open(home, clock=lambda: NOW) as store:
        tokens = add_users(store)
    with (
        running(create_app(config_for(home))) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {tokens['viewer']}"}, timeout=60
        ) as c,
    ):
        page = c.get("/api/v1/status", params={"stage": "missing-san"})
        assert page.status_code == 200, page.text
        assert [i["name"] for i in page.json()["items"]] == ["cas-dorm"]
        r = c.get("/api/v1/deployments/faq-campus/identities")
        assert r.status_code == 200, r.text
        api = {i["name"]: i for i in r.json()["items"]}
        assert {n: i["stage"] for n, i in api.items()} == stages
        assert "cas-dorm-c.example.edu" in api["cas-dorm"]["note"], api["cas-dorm"]
