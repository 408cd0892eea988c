"""The dashboard's CSR form warns, as ``ccapki csr`` does
(:func:`ccapki.lifecycle.importing.source_warning`), when the identity chosen is not
third-party: the next ``ccapki apply`` would replace the outside CA's certificate
(walkthrough: the CLI warned, the web page said nothing)."""

from __future__ import annotations

import html
import re
from typing import Any

from ccapki.lifecycle.importing import source_warning
from ccapki.topology.model import Source
from kit.dashboard import THIRD_PARTY, Estate, WebClient, password
from kit.tools import require_tool


def _internal(estate: Estate) -> list[str]:
    names = [i.name for i in estate.deployment.identities if i.source is not Source.THIRD_PARTY]
    assert names
    assert THIRD_PARTY not in names
    return names


def test_the_page_holds_the_clis_warning_for_each_identity_not_third_party(
    app: str, estate: Estate
) -> None:
    with WebClient(app).login("otto") as c:
        page = c.http.get("/certificates")
    assert page.status_code == 200
    text = page.text
    for name in _internal(estate):
        warning = source_warning(name, Source.INTERNAL)
        option = re.search(rf'<option value="{re.escape(name)}"[^>]*>', text)
        assert option is not None, name
        attr = re.search(r'data-warning="([^"]*)"', option[0])
        assert attr is not None, option[0]
        assert html.unescape(attr[1]) == warning
        listed = re.findall(r"<li>warning: ([^<]*)</li>", text)  # for a browser without script
        assert warning in [html.unescape(w) for w in listed]
    third = re.search(rf'<option value="{THIRD_PARTY}"[^>]*>', text)
    assert third is not None
    assert "data-warning" not in third[0]
    # the third-party identity is chosen first: no warning shown for it
    assert re.search(r'<div class="msg warn" role="status" id="csr-warning" hidden>', text)


def test_choosing_an_internal_identity_shows_the_warning_in_a_browser(
    app: str, estate: Estate
) -> None:
    exe = require_tool("chromium")
    from playwright.sync_api import sync_playwright

    internal = _internal(estate)[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page: Any = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(app + "/login?next=/certificates")
            page.fill("#name", "otto")
            page.fill("#password", password("otto"))
            page.click("button[type=submit]")
            page.wait_for_url(app + "/certificates")
            warning = page.locator("#csr-warning")
            assert not warning.is_visible()
            page.select_option("#csr-identity", internal)
            assert warning.is_visible()
            assert warning.inner_text() == "warning: " + source_warning(internal, Source.INTERNAL)
            page.select_option("#csr-identity", THIRD_PARTY)
            assert not warning.is_visible()
            assert not errors, errors
        finally:
            browser.close()
