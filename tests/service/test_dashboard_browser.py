"""The dashboard in a real headless Chromium (Playwright driving Debian's chromium) against a
real uvicorn on 127.0.0.1, at 1280 px and 390 px wide.

A user's whole round: log in, see the deployment's picture with its links (red where the
estate is broken on purpose: ``cas-annex``'s emptied trust store, ``cas-clinic`` without a
certificate yet), the inventory and its timeline, make a CSR and upload the certificate an
outside CA made from it (and a bad upload: the CLI's error and hint), apply the trust plan,
and see every link turn green. No page logs a console error or throws, and none scrolls
sideways at 390 px. Screenshots go to ``artifacts/screenshots/PAGE-WIDTH.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from kit.certs import OutsideCA, pem
from kit.cli import REPO
from kit.dashboard import BROKEN, THIRD_PARTY, Estate, make_app, password, serve
from kit.tools import require_tool

SHOTS = REPO / "artifacts" / "screenshots"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (no browser download)."""
    exe = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Tab:
    """One page of a browser context, its console errors and page errors collected."""

    def __init__(self, browser: Any, base: str, width: int) -> None:
        self.base = base
        self.width = width
        self.context = browser.new_context(
            viewport={"width": width, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def go(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None, path
        assert response.status == 200, (path, response.status)

    def check(self, name: str) -> None:
        """No console error so far, no sideways scrolling; a full-page screenshot."""
        assert not self.errors, self.errors
        scroll = self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= self.width, f"{name} at {self.width} px: {scroll} px wide"
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}-{self.width}.png"), full_page=True)

    def links(self) -> dict[str, str]:
        """The picture's CAM<->CAS links: appliance -> status class."""
        found: dict[str, str] = self.page.evaluate(
            """() => Object.fromEntries(
                 [...document.querySelectorAll('svg.deployment-picture g.link.cam-cas')]
                   .map(g => [g.querySelector('title').textContent.split(' \\u2194 ')[1]
                                .split(' ')[0],
                              [...g.classList].find(c => c.startsWith('st-'))]))"""
        )
        return found


@pytest.mark.parametrize("width", WIDTHS)
def test_a_round_through_the_dashboard(
    chromium: Any, estate: Estate, outside: OutsideCA, tmp_path: Path, width: int
) -> None:
    with serve(make_app(estate)) as base:
        tab = Tab(chromium, base, width)
        try:
            round_trip(tab, estate, outside, tmp_path)
        finally:
            tab.context.close()


def round_trip(tab: Tab, estate: Estate, outside: OutsideCA, tmp: Path) -> None:
    page = tab.page
    # --- log in (a page that needs a login sends to the form, then back)
    tab.go("/inventory")
    assert page.url.startswith(tab.base + "/login?next=")
    tab.check("login")
    page.fill("#name", "otto")
    page.fill("#password", password("otto"))
    page.click("button[type=submit]")
    page.wait_for_url(tab.base + "/inventory")

    # --- the inventory and its timeline
    assert page.locator("svg.expiry-timeline g.bar").count() > 0
    assert page.locator("table tbody tr").count() >= len(estate.deployment.identities) - 1
    tab.check("inventory")

    # --- the picture: red where broken on purpose, green elsewhere
    tab.go("/")
    assert page.locator("svg.deployment-picture").is_visible()
    links = tab.links()
    assert links[BROKEN] == "st-fail"
    assert links[THIRD_PARTY] == "st-fail"
    assert links["cas-dorm-a"] == "st-pass"
    assert sorted(links) == sorted(a.name for s in estate.deployment.cas for a in s.members)
    box = page.locator("svg.deployment-picture").bounding_box()
    assert box is not None
    assert box["width"] <= tab.width
    tab.check("overview")

    # --- a CSR for the outside CA, downloaded
    tab.go("/certificates")
    page.select_option("#csr-identity", THIRD_PARTY)
    with page.expect_download() as info:
        page.click("#make-csr")
    download = info.value
    assert download.suggested_filename == f"{THIRD_PARTY}.csr"
    csr = x509.load_pem_x509_csr(Path(download.path()).read_bytes())

    # --- a bad upload: a certificate whose key the store never made
    from cryptography.hazmat.primitives.asymmetric import ec

    spec = estate.deployment.identity(THIRD_PARTY)
    stranger = outside.sign(
        x509.Name.from_rfc4514_string(f"CN={spec.common_name}"),
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        dns=spec.dns_names,
    )
    bad = tmp / "stranger.pem"
    bad.write_bytes(pem(stranger) + b"".join(pem(c) for c in outside.chain))
    page.set_input_files("#files", str(bad))
    page.click("#upload")
    page.wait_for_selector("#upload-error")
    error = page.locator("#upload-error").inner_text()
    assert "private key not found for stranger.pem" in error
    assert "hint: upload the key saved when the CSR was made" in error
    # the refusal is the page's own status (422), which the console notes: nothing else
    refused = "Failed to load resource: the server responded with a status of 422"
    tab.errors = [e for e in tab.errors if refused not in e]
    tab.check("upload-error")

    # --- the answer to the CSR, uploaded
    good = tmp / "clinic-signed.pem"
    good.write_bytes(pem(outside.sign_csr(csr)) + b"".join(pem(c) for c in outside.chain))
    page.set_input_files("#files", str(good))
    page.click("#upload")
    page.wait_for_selector("#upload-result")
    assert "Imported." in page.locator("#upload-result").inner_text()
    tab.check("certificates")

    # --- the trust plan, applied: every link green
    tab.go("/trust")
    assert page.locator("#plan-list li").count() > 0
    tab.check("trust")
    page.click("#apply-trust")
    page.wait_for_selector("text=Applied:")
    assert page.locator("#plan-empty").is_visible()
    assert page.locator("#matrix .st-fail").count() == 0
    tab.check("trust-applied")
    tab.go("/")
    links = tab.links()
    assert set(links.values()) == {"st-pass"}, links
    tab.check("overview-green")

    # --- the audit log holds what the operator did; the other pages render cleanly
    tab.go("/audit")
    audit = page.locator("#audit").inner_text()
    assert "trust-add" in audit
    assert "otto" in audit
    tab.check("audit")
    for name, path in (("probes", "/probes"), ("jobs", "/jobs")):
        tab.go(path)
        tab.check(name)

    # --- log out
    page.click("header form button")
    page.wait_for_url(tab.base + "/login")
