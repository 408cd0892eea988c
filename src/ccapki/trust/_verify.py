"""Chain verdicts from ``cryptography.x509.verification``, explained by our own analysis.

:class:`TrustContext` is built once per trust store (it holds the ``Store`` and a cache
of verifiers keyed by purpose, name, time and depth) and verifies many chains; the
explanation (:mod:`ccapki.trust._diagnose`) runs only when a verdict fails.
:func:`verify_chain` is a one-shot wrapper.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.verification import (
    ClientVerifier,
    PolicyBuilder,
    ServerVerifier,
    Store,
    VerificationError,
)

from ccapki.errors import InputError
from ccapki.pki.certs import display_name, extension, fingerprint, name_matches, parse_ip
from ccapki.trust._diagnose import Purpose, analyze, lint
from ccapki.trust._model import Code, Finding, Verdict

__all__ = ["TrustContext", "verify_chain"]

#: Name used to build a server verifier when the leaf offers no usable SAN to check
#: (the verdict then fails on the SAN anyway, and ``Verdict.checked_name`` is None).
_NO_NAME = "no-name.invalid"

_CACHE_LIMIT = 16384


def _subject(name: str) -> x509.DNSName | x509.IPAddress:
    ip = parse_ip(name)
    if ip is not None:
        return x509.IPAddress(ip)
    return x509.DNSName(name)


def _first_san(leaf: x509.Certificate) -> str | None:
    """The leaf's first SAN usable as a server name (wildcards skipped), or ``None``."""
    san = extension(leaf, x509.SubjectAlternativeName)
    if san is None:
        return None
    wildcard = None
    for general_name in san:
        if isinstance(general_name, x509.DNSName):
            if "*" not in general_name.value:
                return general_name.value
            wildcard = wildcard or general_name.value
        if isinstance(general_name, x509.IPAddress):
            return str(general_name.value)
    if wildcard is not None and wildcard.startswith("*."):
        return "wildcard-check" + wildcard[1:]
    return None


class TrustContext:
    """A trust store ready to verify many chains fast.

    Build it once from the roots a verifier trusts (an appliance's "Trusted Certificate
    Authorities", or a client root store) and optional ``candidates`` (CAs known
    elsewhere, e.g. in the ccapki store or the Perfigo root, used only to word fixes).
    Verifiers are cached per ``(purpose, name, time, max_depth)``, and verdicts per
    question (see :attr:`cached_verdicts`); a duplicate root is kept once.
    """

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        *,
        candidates: Sequence[x509.Certificate] = (),
    ) -> None:
        # one copy of each root: a client store made of every identity's anchor holds the
        # same root thousands of times in a big deployment, and the path builder tries each
        self.roots: tuple[x509.Certificate, ...] = tuple(
            {fingerprint(r): r for r in roots}.values()
        )
        self.candidates: tuple[x509.Certificate, ...] = tuple(candidates)
        self._store: Store | None = Store(list(self.roots)) if self.roots else None
        self._builders: dict[tuple[dt.datetime, int | None], PolicyBuilder] = {}
        self._server: dict[tuple[str, dt.datetime, int | None], ServerVerifier] = {}
        self._client: dict[tuple[dt.datetime, int | None], ClientVerifier] = {}
        self._root_fps: frozenset[str] | None = None
        #: verdicts already given: stacks that check names themselves ask the same question
        #: (same leaf, no name) once per channel
        self._verdicts: dict[tuple[object, ...], Verdict] = {}

    # -- verifier cache -------------------------------------------------------------

    def _builder(self, at: dt.datetime, max_depth: int | None) -> PolicyBuilder:
        key = (at, max_depth)
        builder = self._builders.get(key)
        if builder is None:
            assert self._store is not None
            builder = PolicyBuilder().store(self._store).time(at)
            if max_depth is not None:
                builder = builder.max_chain_depth(max_depth)
            if len(self._builders) >= 64:
                self._builders.clear()
            self._builders[key] = builder
        return builder

    def server_verifier(
        self, name: str, at: dt.datetime, max_depth: int | None = None
    ) -> ServerVerifier:
        """The cached cryptography server verifier for ``name`` at ``at``."""
        key = (name, at, max_depth)
        verifier = self._server.get(key)
        if verifier is None:
            verifier = self._builder(at, max_depth).build_server_verifier(_subject(name))
            if len(self._server) >= _CACHE_LIMIT:
                self._server.clear()
            self._server[key] = verifier
        return verifier

    def client_verifier(self, at: dt.datetime, max_depth: int | None = None) -> ClientVerifier:
        """The cached cryptography client verifier at ``at``."""
        key = (at, max_depth)
        verifier = self._client.get(key)
        if verifier is None:
            verifier = self._builder(at, max_depth).build_client_verifier()
            if len(self._client) >= 64:
                self._client.clear()
            self._client[key] = verifier
        return verifier

    @property
    def cached_verifiers(self) -> int:
        """How many cryptography verifiers this context holds (for tests and metrics)."""
        return len(self._server) + len(self._client)

    @property
    def cached_verdicts(self) -> int:
        """How many verdicts this context holds: a question asked again (the same leaf,
        intermediates, purpose, name, time and depth) is answered from them."""
        return len(self._verdicts)

    @property
    def root_fingerprints(self) -> frozenset[str]:
        if self._root_fps is None:
            self._root_fps = frozenset(fingerprint(r) for r in self.roots)
        return self._root_fps

    # -- verification ---------------------------------------------------------------

    def verify(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate] = (),
        *,
        purpose: Purpose = "server",
        peer_name: str | None = None,
        at: dt.datetime | None = None,
        max_depth: int | None = None,
        candidates: Sequence[x509.Certificate] = (),
        lint_ok: bool = False,
    ) -> Verdict:
        """Verify ``leaf`` (+ the ``intermediates`` the peer sent) for a TLS ``purpose``.

        ``purpose="server"``: the leaf must name ``peer_name`` (default: its own first
        SAN, i.e. no real name check) and carry serverAuth when it has an EKU.
        ``purpose="client"``: clientAuth; ``peer_name``, if given, must be in its SAN
        (checked here: cryptography's client verifier returns the names unchecked).
        ``at`` defaults to now, rounded down to the minute so verifiers are reused.
        With ``lint_ok`` a successful verdict also carries warnings (weak leaf key,
        validity beyond 825 days, expiring within 30 days).
        """
        if purpose not in ("server", "client"):
            raise InputError(
                f"unknown purpose {purpose!r}", "use purpose='server' or purpose='client'"
            )
        when = at if at is not None else dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        if when.tzinfo is None:
            raise InputError(
                "the verification time has no timezone", "pass a timezone-aware UTC datetime"
            )
        ints = intermediates if isinstance(intermediates, list) else list(intermediates)
        key = (
            fingerprint(leaf),
            tuple(fingerprint(c) for c in ints),
            purpose,
            peer_name,
            when,
            max_depth,
            tuple(fingerprint(c) for c in candidates),
            lint_ok,
        )
        cached = self._verdicts.get(key)
        if cached is None:
            cached = self._verify(
                leaf, ints, purpose, peer_name, when, max_depth, candidates, lint_ok
            )
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[key] = cached
        return cached

    def _verify(
        self,
        leaf: x509.Certificate,
        ints: list[x509.Certificate],
        purpose: Purpose,
        peer_name: str | None,
        when: dt.datetime,
        max_depth: int | None,
        candidates: Sequence[x509.Certificate],
        lint_ok: bool,
    ) -> Verdict:
        checked = peer_name
        if self._store is None:
            return self._explain(
                leaf, ints, purpose, peer_name, when, max_depth, candidates,
                "the trust store is empty", checked,
            )  # fmt: skip
        chain: list[x509.Certificate]
        try:
            if purpose == "server":
                if checked is None:
                    checked = _first_san(leaf)
                try:
                    verifier = self.server_verifier(checked or _NO_NAME, when, max_depth)
                except ValueError:
                    if peer_name is not None:
                        raise InputError(
                            f"{peer_name!r} is neither a DNS name nor an IP address",
                            "give the peer name as a hostname (cas1.example.com) or an IP",
                        ) from None
                    checked = None
                    verifier = self.server_verifier(_NO_NAME, when, max_depth)
                chain = verifier.verify(leaf, ints)
            else:
                verified = self.client_verifier(when, max_depth).verify(leaf, ints)
                chain = verified.chain
                if peer_name is not None:
                    names = [
                        str(gn.value)
                        for gn in verified.subjects or ()
                        if isinstance(gn, x509.DNSName | x509.IPAddress)
                    ]
                    if not name_matches(peer_name, names):
                        return self._explain(
                            leaf, ints, purpose, peer_name, when, max_depth, candidates,
                            None, peer_name,
                        )  # fmt: skip
        except VerificationError as exc:
            return self._explain(
                leaf, ints, purpose, peer_name, when, max_depth, candidates, str(exc), checked
            )
        findings: tuple[Finding, ...] = ()
        if lint_ok:
            findings = tuple(lint(chain, purpose=purpose, at=when))
        return Verdict(True, tuple(chain), findings, None, checked)

    def _explain(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        purpose: Purpose,
        peer_name: str | None,
        at: dt.datetime,
        max_depth: int | None,
        candidates: Sequence[x509.Certificate],
        raw_error: str | None,
        checked: str | None,
    ) -> Verdict:
        known = (*self.candidates, *candidates)
        chain, findings = analyze(
            leaf,
            intermediates,
            self.roots,
            purpose=purpose,
            peer_name=peer_name,
            at=at,
            max_depth=max_depth,
            candidates=known,
            root_fingerprints=self.root_fingerprints,
        )
        errors = [f for f in findings if f.severity == "error"]
        if not errors:
            errors.append(
                Finding(
                    Code.VERIFICATION_FAILED,
                    f"the verifier refused {display_name(leaf)}: {raw_error or 'no reason given'}",
                    "inspect the chain with `ccapki inspect` and compare it with the trust "
                    "store; re-issue the certificate with ccapki if it is malformed",
                    display_name(leaf),
                )
            )
        warnings = [f for f in findings if f.severity == "warning"]
        return Verdict(False, chain.certs, tuple(errors + warnings), raw_error, checked)


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    purpose: Purpose = "server",
    peer_name: str | None = None,
    at: dt.datetime | None = None,
    max_depth: int | None = None,
    candidates: Sequence[x509.Certificate] = (),
    lint_ok: bool = False,
) -> Verdict:
    """Verify one chain against ``roots``; see :meth:`TrustContext.verify`.

    For many verifications against the same roots, build one :class:`TrustContext`.
    """
    return TrustContext(roots).verify(
        leaf,
        intermediates,
        purpose=purpose,
        peer_name=peer_name,
        at=at,
        max_depth=max_depth,
        candidates=candidates,
        lint_ok=lint_ok,
    )
