"""Run the differential corpus through the real stacks and through ccapki's offline verdicts.

Each :class:`~ccapki.lab.corpus.CorpusCase` goes through every stack available here:

- ``java-pkix``: a real JSSE handshake in one JVM (:mod:`ccapki.lab.jsse`): the case's chain
  served, the client trusting the case's roots, endpoint identification ``HTTPS`` (for a
  client case: the server requires and verifies the client's chain);
- ``openssl-default`` / ``openssl-strict``: ``openssl verify`` with the purpose, the name and
  ``-auth_level 2`` (Debian's default TLS security level), without / with ``-x509_strict``;
- ``gnutls``: ``certtool --verify`` with the name, the purpose and ``--verify-profile low``
  (the verification of gnutls-cli's NORMAL priority);
- ``nss``: ``certutil -V`` in a fresh NSS database (usage SSL server or client; NSS checks
  names in its TLS layer, not here, so the name is left out of both sides for this stack).

The offline side asks :func:`ccapki.trust.verify_for_stack` for the same stack.
:func:`run_corpus` returns a :class:`Report`; :func:`render_markdown` writes
``docs/stacks.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from ccapki.lab.corpus import CorpusCase, build_corpus
from ccapki.lab.jsse import JsseHarness
from ccapki.topology.releases import CHANNEL_STACKS
from ccapki.trust import verify_for_stack
from ccapki.trust._stacks import stack_rules_markdown

__all__ = [
    "KNOWN_DIFFERENCES",
    "STACKS",
    "Outcome",
    "Report",
    "available_stacks",
    "offline_verdict",
    "render_markdown",
    "run_corpus",
]

#: Every stack the corpus can run, in table order, with what it needs on PATH.
STACKS: dict[str, tuple[str, ...]] = {
    "java-pkix": ("java", "javac"),
    "openssl-default": ("openssl",),
    "openssl-strict": ("openssl",),
    "gnutls": ("certtool",),
    "nss": ("certutil",),
}

#: Why a real stack and ccapki's model of it differ on a case (see KNOWN_DIFFERENCES).
_WHY: dict[str, tuple[tuple[str, ...], str]] = {
    "intermediate-as-anchor": (
        ("openssl-default", "openssl-strict"),
        "OpenSSL without X509_V_FLAG_PARTIAL_CHAIN only ends a path at a self-signed "
        "anchor, so a trusted intermediate is not enough; ccapki (like Java, GnuTLS and NSS) "
        "takes every trust-store certificate as an anchor. The lab's OpenSSL sets "
        "PARTIAL_CHAIN, so this shows only with plain `openssl verify`.",
    ),
    "root-keyusage-without-keycertsign": (
        ("java-pkix",),
        "JSSE checks the trust anchor's own keyUsage when present (sun.security.validator."
        "PKIXValidator: 'TrustAnchor ... does not have keyCertSign bit set'); the model "
        "treats the anchor's extensions as unchecked.",
    ),
    "root-keyusage-without-keycertsign/nss": (
        ("nss",),
        "NSS does not check the keyUsage of a root trusted in its database (trust flags win); "
        "the model applies the CA keyUsage rule to anchors too.",
    ),
    "cn-only": (
        ("openssl-strict",),
        "OpenSSL's X509_check_host falls back to the CN when there is no dNSName SAN, even "
        "with -x509_strict; the model's openssl-strict equals web-PKI (SAN only).",
    ),
    "wildcard-partial-label": (
        ("java-pkix", "openssl-default", "openssl-strict"),
        "Java's HostnameChecker and OpenSSL's X509_check_host accept a partial-label "
        "wildcard (ca*.corpus.test); cryptography's web-PKI matcher (RFC 6125 as browsers "
        "apply it) does not, and the model keeps web-PKI name matching.",
    ),
    "leaf-keyusage-without-digitalsignature": (
        ("java-pkix",),
        "SunJSSE refuses an ECDSA server key whose keyUsage lacks digitalSignature "
        "('KeyUsage does not allow digital signatures'); the model's Java leniency drops "
        "the leaf keyUsage check.",
    ),
    "pathlen-exceeded": (
        ("java-pkix",),
        "Java builds a TrustAnchor from the root's name and key only: the anchor's "
        "pathLenConstraint is not enforced (RFC 5280 6.1.1 leaves anchor constraints to the "
        "implementation).",
    ),
    "name-constraints-violated": (
        ("java-pkix",),
        "Java's TrustAnchor(cert, null) ignores the anchor's nameConstraints; only "
        "intermediates' constraints are enforced.",
    ),
    "leaf-is-ca": (
        ("java-pkix", "openssl-default", "openssl-strict", "gnutls"),
        "these stacks accept a CA:TRUE end-entity certificate for TLS; cryptography's "
        "web-PKI policy refuses it (CA/B Forum) and the model keeps that refusal.",
    ),
    "self-signed-leaf-trusted": (
        ("openssl-strict", "gnutls", "nss"),
        "a CA:FALSE self-signed certificate trusted directly: OpenSSL strict accepts it "
        "(the model's missing-AKI rule is web-PKI's), certtool refuses it ('issuer is not a "
        "CA') and NSS with CA trust flags refuses it (an NSS peer needs trust 'P').",
    ),
    "self-signed-ca-identity-trusted": (
        ("java-pkix", "openssl-default", "openssl-strict", "gnutls"),
        "a CA:TRUE self-signed identity trusted directly is accepted as a TLS server by "
        "Java, OpenSSL and GnuTLS; the model applies web-PKI's 'CA as leaf' refusal.",
    ),
    "duplicate-extension": (
        ("nss",),
        "NSS's certutil accepts a certificate that repeats subjectAltName (RFC 5280 forbids "
        "it; OpenSSL, GnuTLS and Java refuse it); the model refuses it for every stack.",
    ),
    "ca-without-ski": (
        ("openssl-strict",),
        "OpenSSL 3 strict mode requires a subjectKeyIdentifier on CA certificates; "
        "cryptography's web-PKI policy does not.",
    ),
    "serial-negative": (
        ("java-pkix", "openssl-default", "openssl-strict", "gnutls", "nss"),
        "every real stack accepts a negative serial number; cryptography's verifier refuses "
        "it (RFC 5280 4.1.2.2).",
    ),
    "v1-root": (
        ("java-pkix", "openssl-default", "gnutls", "nss"),
        "a version 1 (extension-less) root trusted directly is accepted as an anchor by "
        "these stacks (OpenSSL refuses it only in strict mode); cryptography refuses it.",
    ),
    "rsa-1024-leaf": (
        ("openssl-default", "openssl-strict"),
        "Debian's OpenSSL runs at security level 2, which refuses RSA keys under 2048 bits "
        "in the chain ('EE certificate key too weak'); the model's OpenSSL does not.",
    ),
    "ed25519-leaf": (
        ("nss",),
        "NSS does not support Ed25519 certificates (certutil cannot even import one).",
    ),
    "sha1-leaf": (
        ("nss",),
        "NSS's certutil -V accepts SHA-1 signatures (the SHA-1 ban is in Chromium and "
        "Firefox policy, not in NSS's verifier).",
    ),
    "sha1-intermediate": (
        ("nss",),
        "NSS's certutil -V accepts SHA-1 signatures (the ban is browser policy).",
    ),
    "ecdsa-sha1-leaf": (
        ("nss",),
        "NSS's certutil -V accepts ECDSA-SHA1 signatures (the ban is browser policy).",
    ),
}

#: Known differences between a stack and ccapki's model of it, with the reason. The test
#: fails on any difference NOT listed here (a regression); a listed one that now agrees is
#: fine (fixed). Keys: (case, stack).
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    (key.split("/")[0], stack): why for key, (stacks, why) in _WHY.items() for stack in stacks
}

_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"


@dataclass(frozen=True)
class Outcome:
    """One verdict: ``ok`` (None: the stack could not judge it) and why."""

    ok: bool | None
    detail: str = ""

    @property
    def mark(self) -> str:
        return "n/a" if self.ok is None else ("pass" if self.ok else "fail")


@dataclass
class Report:
    """Real and offline outcomes per (case, stack)."""

    cases: list[CorpusCase]
    stacks: list[str]
    real: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    offline: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    checked_at: str = ""

    def agrees(self, case: str, stack: str) -> bool | None:
        """Whether both sides agree (None when the real stack could not judge)."""
        r, o = self.real.get((case, stack)), self.offline.get((case, stack))
        if r is None or o is None or r.ok is None:
            return None
        return r.ok == o.ok

    def agreement(self, stack: str) -> tuple[int, int]:
        """(agreeing, judged) cases for ``stack``."""
        got = [self.agrees(c.name, stack) for c in self.cases]
        judged = [g for g in got if g is not None]
        return sum(judged), len(judged)

    def differences(self) -> list[tuple[CorpusCase, str]]:
        """Every (case, stack) where the real stack and ccapki disagree."""
        return [(c, s) for c in self.cases for s in self.stacks if self.agrees(c.name, s) is False]


def available_stacks() -> list[str]:
    """The stacks whose programs are on PATH here."""
    return [s for s, tools in STACKS.items() if all(shutil.which(t) for t in tools)]


# -- offline ----------------------------------------------------------------------------


def offline_verdict(case: CorpusCase, stack: str, now: dt.datetime) -> Outcome:
    """ccapki's verdict for ``case`` as ``stack`` would judge it."""
    peer = None if stack == "nss" else case.peer_name
    try:
        v = verify_for_stack(
            stack,
            case.leaf,
            list(case.presented),
            list(case.roots),
            purpose=case.purpose,
            peer_name=peer,
            at=now,
        )
    except Exception as exc:  # a crash is a verdict too: it is reported, never hidden
        return Outcome(False, f"ccapki raised {type(exc).__name__}: {exc}")
    codes = sorted({f.code for f in v.findings if getattr(f, "severity", "error") == "error"})
    detail = ", ".join(str(c) for c in codes) or (v.raw_error or "")
    return Outcome(bool(v.ok), detail)


# -- real stacks ------------------------------------------------------------------------


def _write(folder: Path, case: CorpusCase) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leaf.pem").write_bytes(
        case.chain_pem().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    )
    (folder / "presented.pem").write_bytes(b"".join(_pem(c) for c in case.presented))
    (folder / "full.pem").write_bytes(case.chain_pem())
    (folder / "roots.pem").write_bytes(case.roots_pem())


def _pem(c: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return c.public_bytes(serialization.Encoding.PEM)


def _run(args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "LC_ALL": "C"},
    )  # fmt: skip


def _last_line(text: str, needle: str = "") -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if needle:
        lines = [ln for ln in lines if needle in ln] or lines
    return lines[-1][:300] if lines else ""


def _openssl(case: CorpusCase, folder: Path, *, strict: bool) -> Outcome:
    args = ["openssl", "verify", "-CAfile", str(folder / "roots.pem"), "-auth_level", "2"]
    if case.presented:
        args += ["-untrusted", str(folder / "presented.pem")]
    if strict:
        args.append("-x509_strict")
    args += ["-purpose", "sslserver" if case.purpose == "server" else "sslclient"]
    if case.peer_name:
        flag = "-verify_ip" if case.peer_name[0].isdigit() else "-verify_hostname"
        args += [flag, case.peer_name]
    args.append(str(folder / "leaf.pem"))
    proc = _run(args)
    if proc.returncode == 0:
        return Outcome(True, "OK")
    out = (proc.stderr + proc.stdout).replace(str(folder) + "/", "")
    return Outcome(False, _last_line(out, " at ") if " at " in out else _last_line(out))


def _gnutls(case: CorpusCase, folder: Path) -> Outcome:
    args = [
        "certtool", "--verify", "--verify-profile", "low",
        "--load-ca-certificate", str(folder / "roots.pem"), "--infile", str(folder / "full.pem"),
        "--verify-purpose", _SERVER_AUTH if case.purpose == "server" else _CLIENT_AUTH,
    ]  # fmt: skip
    if case.peer_name:
        args += ["--verify-hostname", case.peer_name]
    proc = _run(args)
    out = proc.stdout + proc.stderr
    line = _last_line(out, "Chain verification output")
    if proc.returncode == 0 and "Verified" in line and "Not verified" not in line:
        return Outcome(True, "Verified")
    if "Chain verification output" not in out:  # certtool could not even load it
        return Outcome(False, f"certtool: {_last_line(out, 'rror')}")
    return Outcome(False, line.replace("Chain verification output: ", ""))


def _nss(case: CorpusCase, folder: Path) -> Outcome:
    db = folder / "nssdb"
    db.mkdir(exist_ok=True)
    d = f"sql:{db}"
    _run(["certutil", "-N", "-d", d, "--empty-password"])
    for i, root in enumerate(case.roots):
        p = folder / f"root{i}.pem"
        p.write_bytes(_pem(root))
        _run(["certutil", "-A", "-d", d, "-n", f"root{i}", "-t", "CT,C,C", "-a", "-i", str(p)])
    for i, c in enumerate(case.presented):
        if c in case.roots:  # importing it again untrusted would take its trust away
            continue
        p = folder / f"presented{i}.pem"
        p.write_bytes(_pem(c))
        _run(["certutil", "-A", "-d", d, "-n", f"presented{i}", "-t", ",,", "-a", "-i", str(p)])
    nick = f"root{case.roots.index(case.leaf)}" if case.leaf in case.roots else "leaf"
    added = _run(
        ["certutil", "-A", "-d", d, "-n", "leaf", "-t", ",,", "-a", "-i", str(folder / "leaf.pem")]
    ) if nick == "leaf" else None  # fmt: skip
    if added is not None and added.returncode != 0:
        return Outcome(
            False, f"certutil -A refused the leaf: {_last_line(added.stderr + added.stdout)}"
        )
    usage = "V" if case.purpose == "server" else "C"
    proc = _run(["certutil", "-V", "-d", d, "-n", nick, "-u", usage, "-e"])
    out = proc.stdout + proc.stderr
    if proc.returncode == 0 and "certificate is valid" in out:
        return Outcome(True, "certificate is valid")
    return Outcome(False, _last_line(out))


async def _jsse_all(cases: Sequence[CorpusCase], helper: CorpusCase) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    async with JsseHarness() as jvm:
        sem = asyncio.Semaphore(8)

        async def one(case: CorpusCase) -> None:
            async with sem:
                try:
                    out[case.name] = await _jsse_one(jvm, case, helper)
                except Exception as exc:  # the JVM refused the material itself
                    out[case.name] = Outcome(False, str(getattr(exc, "message", exc))[:300])

        await asyncio.gather(*(one(c) for c in cases))
    return out


async def _jsse_one(jvm: JsseHarness, case: CorpusCase, helper: CorpusCase) -> Outcome:
    if case.purpose == "server":
        port = await jvm.serve(
            f"corpus/{case.name}",
            cert_chain_pem=case.chain_pem(),
            key_pem=case.key_pem(),
            client_auth="none",
        )
        host = case.peer_name or "localhost"
        r = await jvm.connect(
            "127.0.0.1", port, server_name=host, trust_pem=case.roots_pem(), hello="{}"
        )
        await jvm.close_endpoint(f"corpus/{case.name}")
        return Outcome(True, "handshake ok") if r.ok else Outcome(False, r.error or "")
    # a client case: a good server that requires and verifies the case's client chain
    port = await jvm.serve(
        f"corpus/{case.name}",
        cert_chain_pem=helper.chain_pem(),
        key_pem=helper.key_pem(),
        trust_pem=case.roots_pem(),
        client_auth="need",
    )
    r = await jvm.connect(
        "127.0.0.1",
        port,
        server_name="localhost",
        trust_pem=helper.roots_pem(),
        cert_chain_pem=case.chain_pem(),
        key_pem=case.key_pem(),
        check_hostname=False,
        hello="{}",
    )
    await jvm.close_endpoint(f"corpus/{case.name}")
    if r.ok:
        return Outcome(True, "handshake ok")
    return Outcome(False, r.server_error or r.error or "")


def run_corpus(
    stacks: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
    cases: Sequence[CorpusCase] | None = None,
    workers: int = 4,
) -> Report:
    """Build the corpus (from the wall clock: the stacks check validity against it) and run
    it through ``stacks`` (default: every available one) and the offline verdicts."""
    start = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    todo = list(cases) if cases is not None else build_corpus(now)
    chosen = list(stacks) if stacks is not None else available_stacks()
    report = Report(todo, chosen, checked_at=now.isoformat(timespec="seconds"))
    for c in todo:
        for s in chosen:
            report.offline[(c.name, s)] = offline_verdict(c, s, now)
    with tempfile.TemporaryDirectory(prefix="ccapki-corpus-") as tmp:
        root = Path(tmp)
        for c in todo:
            _write(root / c.name, c)
        jobs: dict[tuple[str, str], Callable[[], Outcome]] = {}
        for c in todo:
            folder = root / c.name
            if "openssl-default" in chosen:
                jobs[(c.name, "openssl-default")] = _bind(_openssl, c, folder, strict=False)
            if "openssl-strict" in chosen:
                jobs[(c.name, "openssl-strict")] = _bind(_openssl, c, folder, strict=True)
            if "gnutls" in chosen:
                jobs[(c.name, "gnutls")] = _bind(_gnutls, c, folder)
            if "nss" in chosen:
                jobs[(c.name, "nss")] = _bind(_nss, c, folder)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {k: pool.submit(f) for k, f in jobs.items()}
            if "java-pkix" in chosen:
                helper = next(c for c in build_corpus(now) if c.name == "good")
                for name, o in asyncio.run(_jsse_all(todo, helper)).items():
                    report.real[(name, "java-pkix")] = o
            for k, fut in futures.items():
                try:
                    report.real[k] = fut.result()
                except Exception as exc:
                    report.real[k] = Outcome(None, f"could not run: {exc}")
    report.seconds = time.perf_counter() - start
    return report


def _bind(fn: Callable[..., Outcome], *args: Any, **kwargs: Any) -> Callable[[], Outcome]:
    return lambda: fn(*args, **kwargs)


# -- the table --------------------------------------------------------------------------


def _cell(report: Report, case: str, stack: str) -> str:
    r, o = report.real.get((case, stack)), report.offline.get((case, stack))
    if r is None or o is None:
        return ""
    flag = "" if report.agrees(case, stack) is not False else " **≠**"
    return f"{r.mark} / {o.mark}{flag}"


def render_markdown(report: Report) -> str:
    """``docs/stacks.md``: the case x stack table, agreement per stack, every difference."""
    lines = [
        "# Stacks: real verdicts beside ccapki's",
        "",
        "Generated by `python tools/differential.py --write docs/stacks.md` "
        f"({len(report.cases)} cases, run {report.checked_at}, {report.seconds:.1f} s). "
        "Do not edit by hand.",
        "",
        "Each cell is `real / ccapki`: the verdict of the real stack, then ccapki's offline "
        "verdict for that stack (`pass`, `fail`, `n/a` when the stack could not judge). "
        "**≠** marks a difference; each is listed below with its reason.",
        "",
        "How each stack is run:",
        "",
        "- `java-pkix`: a real JSSE handshake in one JVM (`src/ccapki/lab/java/CcaJsse.java`): "
        "PKIX trust manager over the case's roots, endpoint identification `HTTPS`; client "
        "cases are verified by a JSSE server requiring the client certificate.",
        "- `openssl-default` / `openssl-strict`: `openssl verify -auth_level 2` (Debian's "
        "default security level) with the purpose and the name, without / with `-x509_strict`.",
        "- `gnutls`: `certtool --verify --verify-profile low` (gnutls-cli's NORMAL "
        "verification) with the purpose and the name.",
        "- `nss`: `certutil -V -u V|C` in a fresh NSS database (roots trusted `CT,C,C`, "
        "presented certificates imported untrusted). certutil checks no names: the name is "
        "left out of both sides for this column (Chromium checks names; see tests/lab).",
        "",
        # the channel -> stack table and each stack's modelled rules (issue 10, item 2)
        *stack_rules_markdown(CHANNEL_STACKS),
        "",
        "## Agreement per stack",
        "",
        "| stack | agree | judged | agreement |",
        "|---|---|---|---|",
    ]
    for s in report.stacks:
        ok, n = report.agreement(s)
        pct = f"{100 * ok / n:.0f} %" if n else "-"
        lines.append(f"| {s} | {ok} | {n} | {pct} |")
    lines += ["", "## Cases", "", "| case | what | " + " | ".join(report.stacks) + " |"]
    lines.append("|---|---|" + "---|" * len(report.stacks))
    for c in report.cases:
        cells = " | ".join(_cell(report, c.name, s) for s in report.stacks)
        lines.append(f"| `{c.name}` | {c.description} | {cells} |")
    lines += ["", "## Differences", ""]
    diffs = report.differences()
    if not diffs:
        lines.append("None: ccapki agrees with every stack on every case.")
    for c, s in diffs:
        r, o = report.real[(c.name, s)], report.offline[(c.name, s)]
        why = KNOWN_DIFFERENCES.get((c.name, s), "not yet modelled")
        lines.append(
            f"- `{c.name}` on `{s}`: the stack says **{r.mark}** ({_md(r.detail)}), ccapki "
            f"says **{o.mark}** ({_md(o.detail) or 'no finding'}). Reason: {why}"
        )
    lines += ["", "## Real stack messages", ""]
    lines.append("| case | stack | real | ccapki |")
    lines.append("|---|---|---|---|")
    for c in report.cases:
        for s in report.stacks:
            real, off = report.real.get((c.name, s)), report.offline.get((c.name, s))
            if real is not None and off is not None and (real.ok is not True or off.ok is not True):
                lines.append(f"| `{c.name}` | {s} | {_md(real.detail)} | {_md(off.detail)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()
