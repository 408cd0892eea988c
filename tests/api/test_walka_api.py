"""Walkthrough A (a script author on the Python API, docs/api.md).

- A bad call raised an error its docstring's "Raises" did not name, so a script catching
  what the docstring promised missed it: ``read_files``/``import_files`` of a path that
  does not exist and ``check_trust(clients=...)`` of a missing file raise ``InputError``
  (not the ``FileFormatError`` named); ``client_roots`` and ``stored_deployment`` of a
  store holding several deployments, none named, raise ``InputError`` (named: only
  ``StoreError``, or ``NotFoundError``/``DeploymentError``). The docstrings now say so.
- ``open_store("~nosuchuser/ccapki")`` (and ``init_store``) raised pathlib's
  ``RuntimeError`` ("Could not determine home directory"), no ``CcapkiError`` at all, and
  ``store_exists``, documented to raise nothing, raised it too.
- ``estate_status(store, deployments="campus")`` read the string letter by letter: "no
  deployment 'c'"; so did ``make_csrs(store, dep, "cas-tp")`` and ``plan_renewal(...,
  names="cam")``. One name is one name, as ``read_files`` takes one path.
- ``stored_deployment(store)`` of a store opened with ``open_store(...,
  deployment="hospital")`` raised "holds 2 deployments and none was named": it ignored the
  deployment the docstring says it reads. And ``export(store, "cas-ha-a")`` (an HA peer's
  name, which ``ccapki export cas-ha-a`` takes) said the identity "has no certificate".
- ``ProbeRun.to_dict()`` was typed ``dict[str, Any]``: a script could not know its shape;
  it is a ``TypedDict`` now, whose keys are the ones the JSON really has.
- What ``read_files``, ``inspect_identity``, ``inventory_page`` and ``plan_trust`` return
  (``Material``, ``CertInfo``, ``InventoryPage``, ``Change``), and the ``CsrMade`` that
  ``commit_renewal`` gives ``deliver``, could not be named from ``ccapki`` to annotate a
  script's own functions (``def keep(m: ccapki.Material)``: AttributeError).
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

import ccapki
from ccapki.lifecycle.probing import ProbeChainDict, ProbeEndpointDict, ProbeRun, ProbeRunDict
from kit.certs import NOW
from kit.cli import deployment, ha_pair, standalone
from kit.tools import free_port

NO_USER = "~ccapki-no-such-user-4711"


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, ccapki.Deployment]:
    """A key-file store holding deployments campus and hospital; campus's Deployment."""
    home = tmp_path / "store"
    deps = {
        name: ccapki.parse_deployment(
            deployment(name=name, cam=standalone(f"{name}-cam", ip)), f"{name}.toml"
        )
        for name, ip in (("campus", "10.1.0.1"), ("hospital", "10.2.0.1"))
    }
    with ccapki.init_store(home, key_file=True, clock=lambda: NOW) as store:
        for dep in deps.values():
            ccapki.apply(store, dep, NOW)
    return home, deps["campus"]


def _raises_named(fn: Callable[..., object]) -> set[str]:
    """The error classes a docstring's "Raises" names (``:class:`X``` after "Raises")."""
    doc = fn.__doc__ or ""
    tail = doc[doc.index("Raises") :] if "Raises" in doc else ""
    return {name.split(".")[-1] for name in re.findall(r":class:`~?([\w.]+)`", tail)}


def test_every_error_of_a_bad_call_is_one_its_docstring_names(
    two: tuple[Path, ccapki.Deployment], tmp_path: Path
) -> None:
    home, campus = two
    missing = tmp_path / "no-such-file.pem"
    with ccapki.open_store(home, clock=lambda: NOW) as store:  # several, none named
        calls: list[tuple[Callable[..., object], Callable[[], object]]] = [
            (ccapki.read_files, lambda: ccapki.read_files(missing)),
            (ccapki.import_files, lambda: ccapki.import_files(store, campus, missing)),
            (ccapki.check_trust, lambda: ccapki.check_trust(store, campus, clients=missing)),
            (ccapki.client_roots, lambda: ccapki.client_roots(store)),
            (ccapki.stored_deployment, lambda: ccapki.stored_deployment(store)),
            (ccapki.export, lambda: ccapki.export(store, "campus-cam")),
            (ccapki.open_store, lambda: ccapki.open_store(f"{NO_USER}/ccapki")),
            (ccapki.init_store, lambda: ccapki.init_store(f"{NO_USER}/x", key_file=True)),
        ]
        wrong = []
        for fn, call in calls:
            with pytest.raises(ccapki.CcapkiError) as caught:  # before: RuntimeError too
                call()
            err = caught.value
            assert err.message, fn.__name__
            assert err.hint, fn.__name__
            named = _raises_named(fn)
            if not any(c.__name__ in named for c in type(err).__mro__):
                wrong.append(f"{fn.__name__} raised {type(err).__name__}, names {sorted(named)}")
    assert wrong == []


def test_a_home_of_no_user_holds_no_store_and_says_so(tmp_path: Path) -> None:
    assert ccapki.store_exists(f"{NO_USER}/ccapki") is False  # documented: raises nothing
    with pytest.raises(ccapki.InputError) as caught:
        ccapki.open_store(f"{NO_USER}/ccapki")
    assert NO_USER in caught.value.message
    assert "full path" in caught.value.hint


def test_estate_status_takes_one_name_as_one_deployment(
    two: tuple[Path, ccapki.Deployment],
) -> None:
    home, _ = two
    with ccapki.open_store(home, clock=lambda: NOW) as store:
        one = ccapki.estate_status(store, deployments="campus")
        listed = ccapki.estate_status(store, deployments=["campus"])
    assert {i.deployment for i in one.items} == {"campus"}
    assert one.to_dict() == listed.to_dict()


def test_probe_run_to_dict_is_typed_with_the_keys_it_has(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: a real probe, refused at once
    cam = standalone("cam", "10.1.0.1") + f'endpoints = {{ control = "127.0.0.1:{port}" }}\n'
    dep = ccapki.parse_deployment(deployment(name="campus", cam=cam), "campus.toml")
    with ccapki.init_store(tmp_path / "store", key_file=True) as store:
        ccapki.apply(store, dep)
        run = ccapki.probe_endpoints(store, dep, target="deployment", timeout=5, retries=0)
    hints = typing.get_type_hints(ProbeRun.to_dict)
    assert hints["return"] is ProbeRunDict  # before: dict[str, Any]
    doc = run.to_dict()
    assert set(doc) == set(ProbeRunDict.__annotations__)
    (endpoint,) = doc["endpoints"]
    assert set(endpoint) == set(ProbeEndpointDict.__annotations__)
    assert endpoint["verdict"] == "unreachable"
    assert set(ProbeChainDict.__annotations__) == {"subject", "issuer", "sha256", "not_after"}


def test_one_name_is_one_name_for_csrs_and_renewals(tmp_path: Path) -> None:
    text = deployment(name="campus", cas=[standalone("cas-tp", "10.6.0.1", source="third-party")])
    dep = ccapki.parse_deployment(text, "campus.toml")
    with ccapki.init_store(tmp_path / "store", key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, NOW)
        (csr,) = ccapki.make_csrs(store, dep, "cas-tp")  # before: "no identity named 'c'"
        assert csr.identity == "cas-tp"
        plan = ccapki.plan_renewal(store, dep, NOW, names="cam", due=False)
        assert [i.identity for i in plan.items] == ["cam"]


def test_stored_deployment_is_the_one_open_store_named(
    two: tuple[Path, ccapki.Deployment],
) -> None:
    home, _ = two
    for name in ("campus", "hospital"):
        with ccapki.open_store(home, deployment=name, clock=lambda: NOW) as store:
            assert ccapki.stored_deployment(store).name == name
            assert ccapki.stored_deployment(store, "campus").name == "campus"


def test_export_takes_an_ha_peer_name_as_the_command_does(tmp_path: Path) -> None:
    text = deployment(name="campus", cas=[ha_pair("cas-ha", "10.5.0")])
    dep = ccapki.parse_deployment(text, "campus.toml")
    with ccapki.init_store(tmp_path / "store", key_file=True, clock=lambda: NOW) as store:
        ccapki.apply(store, dep, NOW)
        pair = ccapki.export(store, "cas-ha", "cert")
        assert ccapki.export(store, "cas-ha-a", "cert") == pair
        assert ccapki.export(store, "cas-ha-b", "fullchain").startswith(pair)
        with pytest.raises(ccapki.NotFoundError):
            ccapki.export(store, "cas-nowhere", "cert")


def test_every_class_the_api_returns_or_hands_a_callback_is_importable_from_ccapki() -> None:
    import ccapki.api

    missing = []
    for name in ccapki.api.__all__:
        fn = getattr(ccapki.api, name)
        if isinstance(fn, type) or not callable(fn):
            continue
        shown = [str(fn.__annotations__.get("return"))]
        shown += [str(p.annotation) for p in inspect.signature(fn).parameters.values()]
        for word in re.findall(r"(?<![\w.])[A-Z]\w*(?![\w.])", " ".join(shown)):
            if word in {"Callable", "Iterable", "Sequence", "PrivateKeyTypes", "ExportFormat"}:
                continue  # typing's, cryptography's, and a Literal alias of format names
            if word in {"Passphrase", "None"} or hasattr(ccapki, word):
                continue
            missing.append(f"{name}: {word}")
    assert sorted(set(missing)) == []  # before: Material, CertInfo, InventoryPage, Change...
    assert ccapki.Material.__name__ == "Material"
    assert ccapki.CsrMade.__module__ == "ccapki.lifecycle.renew"
