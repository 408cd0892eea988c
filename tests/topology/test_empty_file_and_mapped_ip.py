"""Two deployment-file defects.

- An empty deployment file (or ``ccapki plan - </dev/null``) said "deployment is missing",
  as if the file lacked one table; it now says the file is empty, and the hint what the
  least deployment file holds (and examples/faq.toml).
- An IPv4-mapped IPv6 address (``::ffff:172.16.2.11``, as a dual-stack socket shows an
  IPv4 peer) was not the duplicate of ``172.16.2.11`` it is. It is now read as the IPv4
  address it maps (one host, one address; a client reaching 172.16.2.11 matches a 4-byte IP
  SAN, not the mapped 16-byte one), so a second appliance on it is refused as a duplicate.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ccapki.errors import DeploymentError
from ccapki.topology import fastload, loader
from kit.cli import Cli, error_with_hint, ok, write

CCAPKI = Path(sys.executable).with_name("ccapki")

_TWO = """\
[deployment]
name = "x"
release = "4.9.0"

[cam]
name = "cam"
hostname = "cam.example.edu"
ip = "{cam}"

[[cas]]
name = "cas-a"
hostname = "cas-a.example.edu"
ip = "{cas}"
"""


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# nothing yet\n\n# to do\n", "\ufeff"])
def test_an_empty_file_is_said_to_be_empty(cli: Cli, tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "campus.toml", text)
    r = error_with_hint(cli("plan", path))
    assert "is missing" not in r.err, r.err
    first = r.err.splitlines()[0]
    empty = "is empty" if not text.strip("\ufeff \n") else "holds no settings"
    assert first.startswith(f"error: {path}: {empty}"), r.err
    hint = r.err.split("\nhint: ", 1)[1]
    assert "[deployment]" in hint, hint
    assert "[cam]" in hint, hint
    assert "examples/faq.toml" in hint, hint


def test_plan_of_empty_standard_input_says_it_is_empty(home: Path) -> None:
    p = subprocess.run(
        [str(CCAPKI), "--home", str(home), "plan", "-"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: <stdin>: is empty"), p.stderr
    assert "deployment is missing" not in p.stderr
    assert "examples/faq.toml" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("parse", [loader.parse_deployment, fastload.parse_deployment])
@pytest.mark.parametrize(
    ("cam", "cas"),
    [
        ("172.16.2.11", "::ffff:172.16.2.11"),
        ("::FFFF:172.16.2.11", "172.16.2.11"),
        ("::ffff:ac10:20b", "172.16.2.11"),
    ],
)
def test_an_ipv4_mapped_address_is_a_duplicate_of_its_ipv4(
    parse: Callable[[str, str], object], cam: str, cas: str
) -> None:
    with pytest.raises(DeploymentError) as caught:
        parse(_TWO.format(cam=cam, cas=cas), "campus.toml")
    err = caught.value
    assert err.message == (
        "campus.toml:13: duplicate IP address 172.16.2.11 on cas-a (already used by cam)"
    ), err.message
    assert "IPv4-mapped" in err.hint, err.hint


def test_an_ipv4_mapped_address_alone_is_its_ipv4_address(cli: Cli, tmp_path: Path) -> None:
    text = _TWO.format(cam="10.0.0.1", cas="::ffff:172.16.2.11")
    for parse in (loader.parse_deployment, fastload.parse_deployment):
        dep = parse(text, "campus.toml")
        assert dep.identity("cas-a").ip_addresses == (ipaddress.ip_address("172.16.2.11"),)
    out = ok(cli("plan", write(tmp_path / "campus.toml", text))).out
    assert "172.16.2.11" in out, out
    assert "::ffff" not in out.lower(), out
