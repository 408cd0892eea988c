"""Item 2 of the foundation issue: the deployment file, and every way it can be broken.

Each broken file must give exit 2, ``error: FILE:LINE:`` naming the line that is wrong, a
``hint:`` line, and no traceback. Line numbers are found in the file text, not hard-coded.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from ccapki.topology.loader import load_deployment
from kit.cli import FAQ, CliRunner, line_of, write

BASE = """\
# a small deployment every broken case starts from
[deployment]
name = "t"
release = "4.8.0"
source = "internal"

[cam]
name = "cam"
hostname = "cam.example.org"
ip = "10.0.0.1"

[[cas]]
name = "cas1"
virtual_hostname = "cas1.example.org"
service_ip = "10.1.0.10"
primary = { name = "cas1-a", hostname = "cas1-a.example.org", ip = "10.1.0.11" }
secondary = { name = "cas1-b", hostname = "cas1-b.example.org", ip = "10.1.0.12" }

[[cas]]
name = "cas2"
hostname = "cas2.example.org"
ip = "10.2.0.10"
"""


def test_faq_example_plans_six_certificates(cli: CliRunner) -> None:
    r = cli("plan", str(FAQ), "--json", home_dir=None)
    assert r.code == 0, r.both
    data = json.loads(r.out)
    assert data["certificates_needed"] == 6
    assert len(data["identities"]) == 6
    # the FAQ's example: 1 CAM HA pair, 3 CAS HA pairs, 2 standalone CAS
    roles = [(i["role"], i["ha_pair"]) for i in data["identities"]]
    assert roles.count(("cam", True)) == 1
    assert roles.count(("cas", True)) == 3
    assert roles.count(("cas", False)) == 2
    assert data["appliances"] == 2 + 3 * 2 + 2


def test_ha_identity_names_service_ip_virtual_name_and_both_peers() -> None:
    dep = load_deployment(FAQ)
    text = FAQ.read_text()
    for ident in dep.identities:
        if ident.ha:
            assert ident.service_ip is not None
            assert ident.virtual_hostname is not None
            assert ident.service_ip in ident.ip_addresses
            assert ident.virtual_hostname in ident.dns_names
            assert ident.common_name == ident.virtual_hostname
            for peer in ident.members:
                assert peer.hostname in ident.dns_names
                for ip in peer.ips:
                    assert ip in ident.ip_addresses
            # exactly those names: Service IP/virtual name + both peers
            assert len(ident.dns_names) == 3
            assert len(ident.ip_addresses) == 1 + sum(len(m.ips) for m in ident.members)
            # and they are the ones written in the file
            assert f'service_ip = "{ident.service_ip}"' in text
        else:
            (only,) = ident.members
            assert ident.dns_names == (only.hostname,)
            assert ident.ip_addresses == only.ips
            assert ident.common_name == only.hostname
    annex = dep.identity("cas-annex")
    assert annex.ip_addresses == (
        ipaddress.ip_address("10.31.0.10"),
        ipaddress.ip_address("10.31.1.10"),
    )


def test_plan_json_names_of_an_ha_identity(cli: CliRunner) -> None:
    r = cli("plan", str(FAQ), "--json", home_dir=None)
    ident = next(i for i in json.loads(r.out)["identities"] if i["name"] == "cas-dorm")
    assert ident["installed_on"] == ["cas-dorm-a", "cas-dorm-b"]
    assert set(ident["san_dns"]) == {
        "cas-dorm.example.edu",
        "cas-dorm-a.example.edu",
        "cas-dorm-b.example.edu",
    }
    assert set(ident["san_ip"]) == {"10.20.0.10", "10.20.0.11", "10.20.0.12"}
    assert ident["common_name"] == "cas-dorm.example.edu"


def _edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (id, edited text, the text of the line the error must name, nth occurrence, words)
BROKEN: list[tuple[str, str, str, int, str]] = [
    (
        "toml-syntax",
        _edit('release = "4.8.0"', "release = 4.8.0"),
        "release = 4.8.0",
        1,
        "TOML syntax",
    ),
    (
        "unknown-key-top-level",
        _edit("[deployment]", 'colour = "red"\n[deployment]'),
        'colour = "red"',
        1,
        "unknown key 'colour'",
    ),
    (
        "unknown-key-in-deployment",
        _edit('source = "internal"', 'source = "internal"\nrelase = "4.9"'),
        "relase",
        1,
        "unknown key 'relase'",
    ),
    (
        "unknown-key-in-cas",
        _edit('ip = "10.2.0.10"', 'ip = "10.2.0.10"\nhostnme = "x.example.org"'),
        "hostnme",
        1,
        "unknown key 'hostnme'",
    ),
    (
        "unknown-key-in-inline-primary",
        _edit('ip = "10.1.0.11" }', 'ip = "10.1.0.11", colour = "x" }'),
        "colour",
        1,
        "unknown key 'colour'",
    ),
    (
        "duplicate-cas-names",
        _edit('name = "cas2"', 'name = "cas1"'),
        'name = "cas1"',
        2,
        "duplicate name 'cas1'",
    ),
    (
        "duplicate-peer-name",
        _edit('name = "cas1-b"', 'name = "cam"'),
        'secondary = { name = "cam"',
        1,
        "duplicate name 'cam'",
    ),
    (
        "duplicate-ip",
        _edit('ip = "10.2.0.10"', 'ip = "10.1.0.12"'),
        'ip = "10.1.0.12"',
        2,
        "duplicate IP address 10.1.0.12",
    ),
    (
        "duplicate-peer-ip",
        _edit('ip = "10.1.0.12" }', 'ip = "10.0.0.1" }'),
        "secondary =",
        1,
        "duplicate IP address 10.0.0.1",
    ),
    (
        "duplicate-service-ip",
        _edit('service_ip = "10.1.0.10"', 'service_ip = "10.0.0.1"'),
        'service_ip = "10.0.0.1"',
        1,
        "duplicate IP address 10.0.0.1",
    ),
    (
        "duplicate-hostname",
        _edit('hostname = "cas2.example.org"', 'hostname = "cas1-a.example.org"'),
        'hostname = "cas1-a.example.org"',
        2,
        "duplicate hostname cas1-a.example.org",
    ),
    (
        "duplicate-virtual-hostname",
        _edit('virtual_hostname = "cas1.example.org"', 'virtual_hostname = "cam.example.org"'),
        'virtual_hostname = "cam.example.org"',
        1,
        "duplicate hostname cam.example.org",
    ),
    (
        "ha-pair-primary-only",
        _edit(
            'secondary = { name = "cas1-b", hostname = "cas1-b.example.org", ip = "10.1.0.12" }\n',
            "",
        ),
        "primary = {",
        1,
        "has a primary but no secondary",
    ),
    (
        "ha-pair-secondary-only",
        _edit(
            'primary = { name = "cas1-a", hostname = "cas1-a.example.org", ip = "10.1.0.11" }\n',
            "",
        ),
        "secondary = {",
        1,
        "has a secondary but no primary",
    ),
    (
        "bad-ip",
        _edit('ip = "10.2.0.10"', 'ip = "10.2.0.300"'),
        "10.2.0.300",
        1,
        "'10.2.0.300' is not a valid IP address",
    ),
    (
        "bad-peer-ip",
        _edit('ip = "10.1.0.11" }', 'ip = "fe80::zz" }'),
        "fe80::zz",
        1,
        "is not a valid IP address",
    ),
    (
        "bad-hostname",
        _edit('hostname = "cas2.example.org"', 'hostname = "cas_2!.example.org"'),
        "cas_2!",
        1,
        "is not a valid hostname",
    ),
    (
        "bad-virtual-hostname",
        _edit('virtual_hostname = "cas1.example.org"', 'virtual_hostname = "-cas1.example.org"'),
        "-cas1.example.org",
        1,
        "is not a valid hostname",
    ),
    (
        "unknown-source",
        _edit('source = "internal"', 'source = "letsencrypt"'),
        "letsencrypt",
        1,
        "'letsencrypt' is not a certificate source",
    ),
    (
        "unknown-source-per-identity",
        _edit('ip = "10.2.0.10"', 'ip = "10.2.0.10"\nsource = "vault"'),
        'source = "vault"',
        1,
        "'vault' is not a certificate source",
    ),
    (
        "unknown-key-type",
        _edit('ip = "10.2.0.10"', 'ip = "10.2.0.10"\nkey = "dsa-1024"'),
        "dsa-1024",
        1,
        "unknown key type 'dsa-1024'",
    ),
    (
        "release-not-a-number",
        _edit('release = "4.8.0"', 'release = "latest"'),
        "latest",
        1,
        "'latest' is not a version number",
    ),
    (
        "release-5",
        _edit('release = "4.8.0"', 'release = "5.0"'),
        'release = "5.0"',
        1,
        "release 5.0 is outside",
    ),
    (
        "release-3",
        _edit('release = "4.8.0"', 'release = "3.6.4"'),
        'release = "3.6.4"',
        1,
        "release 3.6.4 is outside",
    ),
    (
        "missing-cam",
        BASE[: BASE.index("[cam]")] + BASE[BASE.index("[[cas]]") :],
        "# a small deployment",
        1,
        "cam is missing",
    ),
    (
        # a peer's hostname may be left out (known by its address alone), never its ip
        "missing-peer-ip",
        _edit(
            'hostname = "cas1-a.example.org", ip = "10.1.0.11" }',
            'hostname = "cas1-a.example.org" }',
        ),
        'primary = { name = "cas1-a"',
        1,
        "ip is missing",
    ),
]


@pytest.mark.parametrize(
    ("text", "needle", "nth", "words"),
    [pytest.param(t, n, k, w, id=i) for i, t, n, k, w in BROKEN],
)
def test_broken_file_names_file_and_line(
    cli: CliRunner, tmp_path: Path, text: str, needle: str, nth: int, words: str
) -> None:
    path = write(tmp_path / "deploy.toml", text)
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2, r.both
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 2, r.err
    expected = line_of(text, needle, nth)
    assert lines[0].startswith(f"error: {path}:{expected}: "), (lines[0], expected)
    assert words in lines[0]
    assert lines[1].startswith("hint: ")
    assert len(lines[1]) > len("hint: ") + 10
    assert "Traceback" not in r.both


def test_base_file_is_valid(cli: CliRunner, tmp_path: Path) -> None:
    """The cases above break a file that is otherwise fine."""
    path = write(tmp_path / "deploy.toml", BASE)
    r = cli("plan", str(path), "--json", home_dir=None)
    assert r.code == 0, r.both
    assert json.loads(r.out)["certificates_needed"] == 3


def test_sub_table_form_reports_the_right_line(cli: CliRunner, tmp_path: Path) -> None:
    text = _edit(
        'primary = { name = "cas1-a", hostname = "cas1-a.example.org", ip = "10.1.0.11" }\n'
        'secondary = { name = "cas1-b", hostname = "cas1-b.example.org", ip = "10.1.0.12" }\n',
        "",
    )
    text = text.replace(
        '[[cas]]\nname = "cas2"',
        "[cas.primary]\n"
        'name = "cas1-a"\nhostname = "cas1-a.example.org"\nip = "10.1.0.11"\ncolor = "x"\n\n'
        "[cas.secondary]\n"
        'name = "cas1-b"\nhostname = "cas1-b.example.org"\nip = "10.1.0.12"\n\n'
        '[[cas]]\nname = "cas2"',
    )
    path = write(tmp_path / "deploy.toml", text)
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2
    assert r.err.startswith(f"error: {path}:{line_of(text, 'color')}: unknown key 'color'")
    ok = write(tmp_path / "ok.toml", text.replace('color = "x"\n', ""))
    assert cli("plan", str(ok), "--json", home_dir=None).code == 0


def test_non_utf8_file(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace('name = "t"', 'name = "caf\xe9"').encode("latin-1"))
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2
    expected = line_of(BASE, 'name = "t"')
    assert r.err.startswith(f"error: {path}:{expected}: is not UTF-8")
    assert "\nhint: " in r.err
    assert "Traceback" not in r.both


def test_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    r = cli("plan", str(path), home_dir=None)
    assert r.code == 2
    assert r.err.startswith(f"error: {path}: no such file")
    assert "\nhint: " in r.err
    assert "Traceback" not in r.both


def test_folder_instead_of_file(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "deploy.d"
    folder.mkdir()
    for cmd in ("plan", "apply"):
        r = cli(cmd, str(folder), home_dir=None)
        assert r.code == 2
        assert r.err.startswith(f"error: {folder}: is a folder, not a file"), r.err
        assert "\nhint: " in r.err
        assert "Traceback" not in r.both


def test_debug_shows_the_traceback(cli: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path / "deploy.toml", _edit('ip = "10.2.0.10"', 'ip = "nope"'))
    r = cli("--debug", "plan", str(path), home_dir=None)
    assert r.code == 2
    assert "Traceback" in r.err
    assert "DeploymentError" in r.err
    assert "error: " in r.err
    assert "hint: " in r.err
