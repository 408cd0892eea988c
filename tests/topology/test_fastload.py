"""The deployment loader's fast path (``topology/fastload.py``) gives exactly what the full
(pydantic) loader gives: the same :class:`Deployment`, field by field and type by type
(``compare=False`` fields too), or the same ``error: FILE:LINE`` + hint. Checked on every
example file, every deployment file written in the test suite, and generated files."""

from __future__ import annotations

import ast
import dataclasses
import enum
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccapki.errors import DeploymentError
from ccapki.topology import fastload, loader
from ccapki.topology.model import Deployment

ROOT = Path(__file__).resolve().parents[2]


def same(a: Any, b: Any, where: str = "deployment") -> None:
    """``a`` and ``b`` equal in value and type all the way down (dataclass fields that
    compare=False included: 5 == 5.0 is not enough)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, enum.Enum):
        assert a is b, where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def outcome(parse: Any, text: str) -> Deployment | tuple[str, int | None, str, str | None]:
    try:
        return parse(text, "dep.toml")  # type: ignore[no-any-return]
    except DeploymentError as exc:
        return ("error", exc.line, exc.message, exc.hint)


def check(text: str) -> bool:
    """Both loaders agree on ``text``; True when the fast path built it itself."""
    full = outcome(loader.parse_deployment, text)
    fast = outcome(fastload.parse_deployment, text)
    same(fast, full)
    try:
        own = fastload._fast(text)
    except fastload._Full:
        return False
    same(own, full)
    return True


def corpus() -> list[tuple[str, str]]:
    """Every example file and every deployment file the tests write: string constants
    holding a ``[deployment]`` table; each of them with every table the tests append to a
    file (constants starting with one) appended, and with every one-line setting the tests
    use (``key = value`` constants) put in its ``[deployment]`` and its ``[cam]``."""
    out = [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("examples/*.toml"))]
    out.append(("src/ccapki/data/faq.toml", (ROOT / "src/ccapki/data/faq.toml").read_text()))
    bases: list[tuple[str, str]] = []
    tables: list[str] = []
    lines: list[str] = []
    for py in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(py.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            v = node.value
            if "[deployment]" in v:
                bases.append((f"{py.relative_to(ROOT)}:{node.lineno}", v))
            elif re.match(r"\s*\[\[?[a-z]", v) and "=" in v:
                tables.append(v)
            elif re.fullmatch(r"[a-z_]+ = [^\n]+", v):
                lines.append(v)
    out += bases
    for name, base in bases:
        out += [(f"{name} + table", base + "\n" + t + "\n") for t in tables]
        for header in ("[deployment]\n", "[cam]\n"):
            if header in base:
                out += [
                    (f"{name} + {ln}", base.replace(header, header + ln + "\n", 1)) for ln in lines
                ]
    return out


def test_every_file_of_the_examples_and_tests_reads_the_same() -> None:
    files = corpus()
    assert len(files) > 200
    fast = {name for name, text in files if check(text)}
    # the fast path is the one the everyday files take
    assert "examples/faq.toml" in fast
    assert len(fast) > 5


def test_the_fast_path_copies_of_the_full_loaders_patterns_are_equal() -> None:
    assert fastload._HOSTNAME_RE.pattern == loader._HOSTNAME_RE.pattern
    assert f"^{fastload._NAME_RE.pattern}$" == loader._NAME_RE.pattern
    assert fastload._MAX_DAYS == loader.MAX_DAYS


def test_the_fast_path_reads_no_key_the_full_loader_does_not_know() -> None:
    assert set(loader._File.model_fields) >= fastload._TOP_KEYS
    assert set(loader._Header.model_fields) >= fastload._HEADER_KEYS
    assert set(loader._Unit.model_fields) >= fastload._UNIT_KEYS
    assert set(loader._Member.model_fields) >= fastload._MEMBER_KEYS


def test_what_the_fast_path_does_not_know_goes_to_the_full_loader() -> None:
    base = (ROOT / "examples/faq.toml").read_text()
    for extra in (
        "\n[monitoring]\nwarn_days = [30, 7]\n",
        '\n[renewal]\nkey = "keep"\n',
        "\n[cas.primary.endpoints]\n",
        "\n[somethingnew]\nx = 1\n",
    ):
        text = base + extra
        with pytest.raises(fastload._Full):
            fastload._fast(text)
        check(text)


def test_a_file_that_is_not_utf8_is_refused_as_before(tmp_path: Path) -> None:
    p = tmp_path / "dep.toml"
    p.write_bytes(b'[deployment]\nname = "x\xff"\n')
    with pytest.raises(DeploymentError) as full:
        loader.load_deployment(p)
    with pytest.raises(DeploymentError) as fast:
        fastload.load_deployment(p)
    assert (fast.value.line, fast.value.message, fast.value.hint) == (
        full.value.line,
        full.value.message,
        full.value.hint,
    )


# ---------------------------------------------------------------- generated files


def toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string (\uXXXX escapes included)
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def table(header: str, items: dict[str, Any]) -> str:
    return header + "\n" + "".join(f"{k} = {toml(v)}\n" for k, v in items.items()) + "\n"


#: values of each kind: the first ones valid, then the odd and the wrong
ODD = {
    "name": ["a.b_c-d", "Cas", "x" * 63, "x" * 64, "-bad", "cam", 7],
    "hostname": ["CAS.Example.Edu.", "h", "a-.b", "10.0.0.1", "x\n", "", 7],
    "ip": ["2001:db8::1", ["10.9.0.1", "fe80::1"], "010.0.0.1", "nope", [], 3, ["10.9.0.1"] * 2],
    "source": ["internal", "self-signed", "perfigo", "third-party", "acme", "x", 1],
    "key": ["ecdsa-p256", "P-384", "rsa", "RSA_3072", "ed25519", "", 5],
    "validity_days": [1, 397, 36500, 0, 36501, -5, "397", True, 1.5],
    "release": ["4.8.0", "4.7.2", "4.1", "4.9.1", "3.0", "x", 4.8],
    "organization": ["Example U", "é" * 32, "é" * 33, " ", 5],
    "ca": ["own", "shared", "other"],
}
ODD["virtual_hostname"] = ODD["hostname"]
ODD["service_ip"] = ODD["ip"]


@st.composite
def deployment_files(draw: st.DrawFn) -> str:
    """A valid file of a CAM and up to four CAS (standalone or HA), then a few changes:
    an optional key set, a value replaced by an odd or wrong one, a key dropped or added,
    a name, hostname or address reused."""
    count = [0]

    def fresh(kind: str) -> Any:
        count[0] += 1
        n = count[0]
        return {"name": f"n{n}", "hostname": f"h{n}.example.edu", "ip": f"10.0.{n}.1"}[kind]

    def unit() -> dict[str, Any]:
        if draw(st.booleans()):
            return {"name": fresh("name"), "hostname": fresh("hostname"), "ip": fresh("ip")}
        pair: dict[str, Any] = {
            "name": fresh("name"),
            "virtual_hostname": fresh("hostname"),
            "service_ip": fresh("ip"),
        }
        for peer in ("primary", "secondary"):
            pair[peer] = {k: fresh(k) for k in ("name", "hostname", "ip")}
        return pair

    header: dict[str, Any] = {"name": "dep", "release": "4.8.0"}
    tables = [header, unit(), *(unit() for _ in range(draw(st.integers(0, 4))))]
    targets = [*tables, *(t[p] for t in tables[1:] for p in ("primary", "secondary") if p in t)]
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from(sorted(ODD)))
        action = draw(st.sampled_from(["set", "set", "set", "drop", "reuse", "unknown"]))
        if action == "set":
            target[key] = draw(st.sampled_from(ODD[key]))
        elif action == "drop" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif action == "reuse":
            other = draw(st.sampled_from(targets))
            shared = sorted(set(other) & set(target) & {"name", "hostname", "ip"})
            if shared:
                k = draw(st.sampled_from(shared))
                target[k] = other[k]
        elif action == "unknown":
            target["colour"] = "blue"
    text = table("[deployment]", header) + table("[cam]", tables[1])
    for u in tables[2:]:
        text += table("[[cas]]", u)
    return text


def test_every_odd_value_in_every_place_reads_the_same() -> None:
    """Each value of :data:`ODD` in each table of a small valid file (the header, a
    standalone CAM, an HA pair and its peer), one at a time."""
    pair = {
        "name": "cas1",
        "virtual_hostname": "cas1.example.edu",
        "service_ip": "10.1.0.10",
        "primary": {"name": "cas1-a", "hostname": "cas1-a.example.edu", "ip": "10.1.0.11"},
        "secondary": {"name": "cas1-b", "hostname": "cas1-b.example.edu", "ip": "10.1.0.12"},
    }
    cam = {"name": "cam", "hostname": "cam.example.edu", "ip": "10.0.0.1"}
    header = {"name": "dep", "release": "4.8.0"}
    fast = 0
    for where in ("header", "cam", "pair", "peer"):
        for key, values in ODD.items():
            for value in values:
                h, c, p = dict(header), dict(cam), {**pair, "primary": dict(pair["primary"])}
                target = {"header": h, "cam": c, "pair": p, "peer": p["primary"]}[where]
                target[key] = value
                text = table("[deployment]", h) + table("[cam]", c) + table("[[cas]]", p)
                fast += check(text)
    assert fast > 50


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deployment_files())
def test_generated_files_read_the_same(text: str) -> None:
    check(text)
