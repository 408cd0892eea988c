"""The lab kit: test deployments served by a lab, and the helpers that drive one.

In process: the certificates come from :mod:`kit.certs` (fixed clock ``NOW``);
:class:`Deployment` is 1 CAM, 1 CAS HA pair and 1 standalone CAS of one internal PKI;
:class:`LabThread` runs a lab on its own event loop for tests that drive blocking external
programs.

Through the CLI (``ccapki lab ...``, ``verify --live``): :func:`deployment_toml` is the
deployment file, :class:`LabHome` a store with it applied (the ``make_lab`` fixture of
tests/lab/conftest.py makes them), and :func:`assert_breaks` and friends read the
``verify --live --json`` report.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ccapki.lab import ApplianceSpec, EndpointMaterial, LabSpec
from ccapki.lab.daemon import read_state, stop_background
from kit.certs import Ca, Leaf, issue, make_ca
from kit.cli import Cli

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine to completion with a hard time bound."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@dataclass(frozen=True)
class Deployment:
    """1 CAM, 1 CAS HA pair (cas1a primary, cas1b secondary), 1 standalone CAS (cas2),
    internal PKI: every identity signed by one issuing CA, every trust store holds its root."""

    ca: Ca
    cam: Leaf
    pair: Leaf
    cas2: Leaf

    @property
    def trust(self) -> bytes:
        return self.ca.root_pem

    def spec(self, **changes: Any) -> LabSpec:
        t = self.trust
        apps = _appliances(self.cam.material(t), self.pair.material(t), self.cas2.material(t))
        spec = LabSpec(apps, link_interval=60.0, link_timeout=3.0)
        return replace(spec, **changes) if changes else spec


def _appliances(
    cam: EndpointMaterial, pair: EndpointMaterial, cas2: EndpointMaterial
) -> tuple[ApplianceSpec, ...]:
    """The deployment's appliances serving ``cam``, ``pair`` (on both peers) and ``cas2``."""
    return (
        ApplianceSpec("cam", "cam", cam, hostname="cam.example.edu"),
        ApplianceSpec(
            "cas1a", "cas", pair, hostname="cas1a.example.edu", pair="cas-ha1", ha_role="primary"
        ),
        ApplianceSpec(
            "cas1b", "cas", pair, hostname="cas1b.example.edu", pair="cas-ha1", ha_role="secondary"
        ),
        ApplianceSpec("cas2", "cas", cas2, hostname="cas2.example.edu"),
    )


def make_deployment() -> Deployment:
    ca = make_ca("Campus")
    return Deployment(
        ca=ca,
        cam=issue(ca, "cam.example.edu"),
        pair=issue(
            ca,
            "cas-ha1.example.edu",
            ("cas-ha1.example.edu", "cas1a.example.edu", "cas1b.example.edu"),
        ),
        cas2=issue(ca, "cas2.example.edu"),
    )


def with_appliance(spec: LabSpec, name: str, **changes: Any) -> LabSpec:
    """The spec with one appliance changed."""
    apps = tuple(replace(a, **changes) if a.name == name else a for a in spec.appliances)
    return replace(spec, appliances=apps)


def write_deployment_files(folder: str, d: Deployment) -> None:
    """PEM files a test loader reads (the daemon's loader mode)."""
    f = Path(folder)
    f.mkdir(parents=True, exist_ok=True)
    f.joinpath("root.pem").write_bytes(d.trust)
    for name, leaf in (("cam", d.cam), ("pair", d.pair), ("cas2", d.cas2)):
        f.joinpath(f"{name}.pem").write_bytes(leaf.chain_pem)
        f.joinpath(f"{name}.key").write_bytes(leaf.key_pem)
        os.chmod(f / f"{name}.key", 0o600)


def load_from_folder(folder: str, trust_file: str = "root.pem") -> LabSpec:
    """A spec loader for the daemon (``kit.lab:load_from_folder``), reading PEM files."""
    f = Path(folder)
    trust = f.joinpath(trust_file).read_bytes()

    def mat(name: str) -> EndpointMaterial:
        return EndpointMaterial(
            f.joinpath(f"{name}.pem").read_bytes(), f.joinpath(f"{name}.key").read_bytes(), trust
        )

    apps = _appliances(mat("cam"), mat("pair"), mat("cas2"))
    return LabSpec(apps, link_interval=0.5, link_timeout=3.0)


class LabThread:
    """A lab running on its own event loop in a background thread, for tests that drive
    blocking external programs (openssl, gnutls-cli, chromium). Always used as a context
    manager, so the lab and the thread stop at the end even when the test fails."""

    def __init__(self, spec: LabSpec) -> None:
        import threading

        from ccapki.lab import Lab

        self.lab = Lab(spec)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def __enter__(self) -> LabThread:
        self._thread.start()
        try:
            self.call(self.lab.start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def status(self) -> Any:
        async def get() -> Any:
            return self.lab.status()

        return self.call(get())

    def __exit__(self, *exc: object) -> None:
        try:
            if self.lab.running:
                self.call(self.lab.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


# ---------------------------------------------------------------------------- through the CLI

#: appliance -> {endpoint kind: "host:port"} for `verify --live --target deployment`
Endpoints = dict[str, dict[str, str]]


def lab_endpoints(status: dict[str, Any], only: set[str] | None = None) -> Endpoints:
    """The endpoints ``lab status --json`` reports (of the appliances in ``only``)."""
    eps: Endpoints = {}
    for e in status["endpoints"]:
        if only is None or e["appliance"] in only:
            eps.setdefault(e["appliance"], {})[e["kind"]] = f"{e['host']}:{e['port']}"
    return eps


def _endpoints(name: str, endpoints: Endpoints | None) -> str:
    eps = (endpoints or {}).get(name)
    if not eps:
        return ""
    return ", endpoints = { " + ", ".join(f'{k} = "{v}"' for k, v in eps.items()) + " }"


def _member(name: str, ip: str, endpoints: Endpoints | None) -> str:
    return (
        f'{{ name = "{name}", hostname = "{name}.lab.test", ip = "{ip}"'
        f"{_endpoints(name, endpoints)} }}"
    )


def _pair(section: str, name: str, net: str, endpoints: Endpoints | None) -> str:
    return (
        f"[{section}]\n"
        f'name = "{name}"\n'
        f'virtual_hostname = "{name}.lab.test"\n'
        f'service_ip = "{net}.10"\n'
        f"primary = {_member(name + '-a', net + '.11', endpoints)}\n"
        f"secondary = {_member(name + '-b', net + '.12', endpoints)}\n"
    )


def _standalone(name: str, ip: str, endpoints: Endpoints | None, extra: str = "") -> str:
    eps = (endpoints or {}).get(name)
    line = ""
    if eps:
        line = "endpoints = { " + ", ".join(f'{k} = "{v}"' for k, v in eps.items()) + " }\n"
    return f'[[cas]]\nname = "{name}"\nhostname = "{name}.lab.test"\nip = "{ip}"\n{line}{extra}'


#: the CLI test deployment: a CAM HA pair, a CAS HA pair and a standalone CAS (every channel)
CAM = ("cam-a", "cam-b")
CAS_HA = ("cas-ha-a", "cas-ha-b")
SOLO = "cas-solo"
SHORT = "cas-short"  # only in deployments made with short=True: validity_days = 1


def deployment_toml(*, short: bool = False, endpoints: Endpoints | None = None) -> str:
    text = (
        "[deployment]\n"
        'name = "labcli"\n'
        'release = "4.8.0"\n'
        'organization = "Lab CLI Test"\n'
        'source = "internal"\n\n'
        + _pair("cam", "cam", "10.0.0", endpoints)
        + "\n"
        + _pair("[cas]", "cas-ha", "10.1.0", endpoints)
        + "\n"
        + _standalone(SOLO, "10.2.0.10", endpoints)
    )
    if short:
        text += "\n" + _standalone(SHORT, "10.3.0.10", endpoints, "validity_days = 1\n")
    return text


def appliances(short: bool = False) -> list[str]:
    return [*CAM, *CAS_HA, SOLO, *([SHORT] if short else [])]


@dataclass
class LabHome:
    """A store with :func:`deployment_toml` applied (and, usually, its lab running)."""

    home: Path
    deployment: Path
    short: bool = False
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.home / "lab"

    def status(self, cli: Cli) -> dict[str, Any]:
        """``lab status --json``; its exit code says whether every link is up (0) or not (1)."""
        r = cli("lab", "status", "--json", home_dir=self.home, env=self.env)
        doc: dict[str, Any] = r.json()
        assert r.code == (0 if all(x["ok"] for x in doc["links"]) else 1), r.both
        return doc

    def verify(self, cli: Cli, *extra: str) -> tuple[int, dict[str, Any]]:
        r = cli("verify", "--live", "--json", *extra, home_dir=self.home, env=self.env)
        assert r.code in (0, 1, 3), r.both
        doc: dict[str, Any] = r.json()
        return r.code, doc


def stop_lab(cli: Cli, lab: LabHome) -> None:
    """`ccapki lab down`, then the daemon module's own stop as a fallback."""
    try:
        cli("lab", "down", home_dir=lab.home, env=lab.env)
    finally:
        stop_background(lab.state_dir, timeout=5.0)
        state = read_state(lab.state_dir)
        assert state is None or not state.alive, f"a lab daemon outlived the test: {state}"


#: the type of the ``make_lab`` fixture
LabFactory = Callable[..., LabHome]

Cell = tuple[str, str]


def failing(doc: dict[str, Any], side: str) -> set[Cell]:
    """The (appliance, channel) cells whose ``side`` ("live" or "offline") is "fail"."""
    return {(c["appliance"], c["channel"]) for c in doc["cells"] if c[side] == "fail"}


def assert_all_pass(code: int, doc: dict[str, Any]) -> None:
    assert code == 0, doc
    assert doc["ok"] is True
    assert doc["agree"] is True
    assert failing(doc, "live") == set()
    assert failing(doc, "offline") == set()
    assert all(c["agree"] is True for c in doc["cells"]), doc
    assert {c["live"] for c in doc["cells"]} <= {"pass", "n/a"}


def assert_breaks(code: int, doc: dict[str, Any], *, live: set[Cell], offline: set[Cell]) -> None:
    """Exactly the predicted cells fail, live and offline agree, exit 1 (findings)."""
    assert failing(doc, "live") == live, doc
    assert failing(doc, "offline") == offline, doc
    assert doc["agree"] is True
    assert all(c["agree"] for c in doc["cells"]), doc
    assert doc["ok"] is False
    assert code == 1
