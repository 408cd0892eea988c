"""Is an HA pair fit for its IPsec heartbeat? Rules over the certificates of both peers.

The FAQ: "install the same certificate on both devices in a HA pair"; the certificate names
the Service IP, the virtual hostname and both peers; an expired certificate brings the
heartbeat down and both peers go active. Each rule is a frozen object citing its source;
``evaluate(pair, now)`` returns one :class:`Finding` per problem, whose ``subject`` is the
peer it fails on (``"primary"`` or ``"secondary"``), and ``detail`` words the row
``ccapki check-ha`` prints. :func:`check_ha` runs them into :class:`HaCheck` rows.

Whether a failing row keeps the heartbeat down is the rule's to say
(:attr:`HaCheck.breaks_heartbeat`): the validity row asks the strongSwan stack model, the one
``trust check`` judges the ha-heartbeat cells with (:func:`ccapki.trust.verify_for_stack`),
so an expired certificate each peer trusts directly (a true self-signed one) still brings
the heartbeat up in both commands, as charon does.

Pure: a peer is its certificate, the SPKI fingerprint of the private key it holds (never
the key itself) and, when known, the certificates its trust store holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol, cast

from cryptography import x509

from ccapki.pki.certs import covers, display_name, fingerprint, is_self_signed
from ccapki.trust._fit import usage_findings
from ccapki.trust._model import Code, Finding

if TYPE_CHECKING:
    from ccapki.topology.releases import ReleaseProfile

__all__ = [
    "HA_RULES",
    "HA_RULES_NO_HEARTBEAT",
    "HEARTBEAT_ROWS",
    "PEERS",
    "HaCheck",
    "HaPair",
    "HaPeer",
    "HaRule",
    "KeyMatches",
    "NamesOnBothPeers",
    "SameCertificate",
    "SameKey",
    "UsageOnBothPeers",
    "ValidOnBothPeers",
    "check_ha",
    "ha_rules",
    "heartbeat_blockers",
]

PeerLabel = Literal["primary", "secondary"]
PEERS: tuple[PeerLabel, PeerLabel] = ("primary", "secondary")
_SOURCE = "Cisco CCA HA guide (the same certificate and key on both peers); the FAQ"


@dataclass(frozen=True)
class HaPeer:
    """One peer: the certificate it presents, the SPKI fingerprint of its private key
    (``None``: it holds no key) and the certificates its trust store holds (``None``: not
    known; then an out-of-date certificate counts as breaking the heartbeat)."""

    certificate: x509.Certificate
    key_spki: str | None
    trust: tuple[x509.Certificate, ...] | None = None


@dataclass(frozen=True)
class HaPair:
    """An HA pair of plan identity ``identity``, which must name ``names``."""

    identity: str
    names: tuple[str, ...]
    primary: HaPeer
    secondary: HaPeer

    def peer(self, label: PeerLabel) -> HaPeer:
        return self.primary if label == "primary" else self.secondary

    def other(self, label: PeerLabel) -> HaPeer:
        """The peer that verifies ``label``'s certificate in the heartbeat."""
        return self.secondary if label == "primary" else self.primary

    @property
    def same_certificate(self) -> bool:
        return fingerprint(self.primary.certificate) == fingerprint(self.secondary.certificate)


@dataclass(frozen=True)
class HaCheck:
    """One row of ``check-ha``: the rule's ``item``, whether it holds, the row's words, the
    peers it fails on, the findings behind it, and whether its failure alone keeps the
    certificate-keyed IPsec heartbeat down (4.7+; :func:`heartbeat_blockers` reads it)."""

    item: str
    ok: bool
    detail: str
    peers: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    breaks_heartbeat: bool = False

    def as_dict(self) -> dict[str, object]:
        """The row as ``check-ha --json`` prints it (item, ok, detail, peers)."""
        return {"item": self.item, "ok": self.ok, "detail": self.detail, "peers": list(self.peers)}


class HaRule(Protocol):
    """One HA check: its row ``item``, a stable ``code``, its ``source``, an evaluation
    (findings name the failing peer in ``subject``), the row's words, whether its findings
    keep the certificate-keyed heartbeat down, and the row's item for those findings."""

    @property
    def item(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def source(self) -> str: ...

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]: ...

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str: ...

    def breaks_heartbeat(
        self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime
    ) -> bool: ...

    def row_item(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> str: ...


class _Row:
    """What most rules say of the heartbeat: their failure alone does not keep it down
    (two certificates or keys with one subject DN, each trusted, still authenticate), and
    the row's item is the rule's."""

    def breaks_heartbeat(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> bool:
        return False

    def row_item(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> str:
        return cast("HaRule", self).item


@dataclass(frozen=True)
class SameCertificate(_Row):
    """Both peers present the very same certificate (fails on the secondary)."""

    item: str = "same certificate on both peers"
    code: str = Code.HA_CERTIFICATE_DIFFERS
    source: str = _SOURCE

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        if pair.same_certificate:
            return []
        pfp = fingerprint(pair.primary.certificate)[:16]
        sfp = fingerprint(pair.secondary.certificate)[:16]
        return [
            Finding(
                self.code,
                f"primary {pfp} vs secondary {sfp}",
                # `export --for-peer` writes the store's current certificate, which may be
                # the secondary's (a primary not reloaded since a renewal)
                f"install one certificate on both peers: `ccapki export {pair.identity} "
                "--for-peer` writes the store's current one",
                "secondary",
            )
        ]

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        return "identical" if not findings else f"{findings[0].reason}: {findings[0].fix}"


@dataclass(frozen=True)
class KeyMatches(_Row):
    """Peer ``peer`` holds the private key of the certificate it presents."""

    peer: PeerLabel
    code: str = Code.KEY_MISMATCH
    source: str = "RFC 8446 4.4.3 (the server proves it holds the certificate's key)"

    @property
    def item(self) -> str:
        return f"{self.peer} key matches its certificate"

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        # imported here: the trust package loads without the key serializers
        from ccapki.pki.keys import public_key_fingerprint

        peer = pair.peer(self.peer)
        name = display_name(peer.certificate)
        if peer.key_spki is None:
            fix = f"give the {self.peer} the key of {name} (`ccapki export {pair.identity}`)"
            return [Finding(Code.MISSING_KEY, "no private key", fix, self.peer)]
        if peer.key_spki == public_key_fingerprint(peer.certificate.public_key()):
            return []
        return [
            Finding(
                self.code,
                "the key belongs to another certificate",
                f"install {name} together with its own key (`ccapki export {pair.identity}`)",
                self.peer,
            )
        ]

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        return findings[0].reason if findings else "yes"

    def breaks_heartbeat(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> bool:
        return bool(findings)  # a peer without its certificate's key cannot authenticate


@dataclass(frozen=True)
class SameKey(_Row):
    """Both peers hold the same private key (fails on the secondary)."""

    item: str = "same private key on both peers"
    code: str = Code.HA_KEY_DIFFERS
    source: str = _SOURCE

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        p, s = pair.primary.key_spki, pair.secondary.key_spki
        if p is not None and s is not None and p == s:
            return []
        fix = f"install the primary's bundle (`ccapki export {pair.identity} --for-peer`)"
        if p and s:
            return [Finding(self.code, "the peers hold different private keys", fix, "secondary")]
        # a peer without a key: whether the keys are the same cannot be told
        return [
            Finding(self.code, f"unknown: the {label} holds no key", fix, label)
            for label in PEERS
            if pair.peer(label).key_spki is None
        ]

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        keyless = [label for label in PEERS if pair.peer(label).key_spki is None]
        if keyless:
            return f"unknown (no key on the {' or '.join(keyless)})"
        return "no" if findings else "yes"


def _by_peer(findings: Sequence[Finding]) -> dict[str, str]:
    """Failing peer -> its problems joined, in peer order."""
    out: dict[str, str] = {}
    for label in PEERS:
        reasons = [f.reason for f in findings if f.subject == label]
        if reasons:
            out[label] = "; ".join(reasons)
    return out


def _per_peer_detail(findings: Sequence[Finding], same: bool, fine: str, same_problem: str) -> str:
    """A row checked on each peer: with one certificate on both it reads as for one
    certificate (``fine`` or ``same_problem``); otherwise it names each failing peer."""
    if not findings:
        return fine
    if same:
        return same_problem
    return "; ".join(f"{label}: {problem}" for label, problem in _by_peer(findings).items())


@dataclass(frozen=True)
class NamesOnBothPeers(_Row):
    """Each peer's certificate names the Service IP, the virtual hostname and both peers."""

    item: str = "names the Service IP, virtual hostname and both peers"
    code: str = Code.MISSING_SAN
    source: str = "RFC 6125 6.4; the FAQ (HA certificates)"

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        out = []
        for label in PEERS:
            cert = pair.peer(label).certificate
            missing = [n for n in pair.names if not covers(cert, n)]
            if missing:
                name = display_name(cert)
                # a name only in the CN: say where it is ("X lacks X" read as nonsense)
                cn = [n for n in missing if n.lower() == name.lower()]
                where = (
                    f" ({cn[0]} is only in its CN; clients check the subjectAltName)" if cn else ""
                )
                out.append(
                    Finding(
                        self.code,
                        f"{name} lacks {', '.join(missing)} in its subjectAltName{where}",
                        f"have {name} re-issued with every name of `ccapki plan`",
                        label,
                    )
                )
        return out

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        same = pair.same_certificate
        missing = [n for n in pair.names if not covers(pair.primary.certificate, n)]
        return _per_peer_detail(
            findings,
            same,
            "all present" if same else "all present on both peers",
            f"missing: {', '.join(missing)}",
        )


def _span(cert: x509.Certificate) -> str:
    return f"{cert.not_valid_before_utc:%Y-%m-%d} -> {cert.not_valid_after_utc:%Y-%m-%d}"


def _dates_unread(cert: x509.Certificate, trust: Sequence[x509.Certificate] | None,
                  now: dt.datetime) -> bool:  # fmt: skip
    """Whether a peer whose trust store is ``trust`` authenticates ``cert`` in the heartbeat
    whatever its dates: strongSwan takes a certificate found among its trusted ones as
    trusted without reading its lifetime (``trusted_leaf_cite`` of the strongswan stack
    model, proven by charon in docs/stacks.md, case self-signed-leaf-expired-trusted). The
    very verdict ``trust check`` gives the ha-heartbeat cells (both ways: as a server and
    as a client). False when ``trust`` is not known."""
    if trust is None:
        return False
    # imported here: the HA rules load without the stack models
    from ccapki.trust._stacks import Stack, verify_for_stack

    return all(
        verify_for_stack(
            Stack.STRONGSWAN, cert, [], list(trust), purpose=purpose, at=now, lint=False
        ).ok
        for purpose in ("server", "client")
    )


def _heartbeat_up(pair: HaPair, label: PeerLabel) -> str:
    """What an out-of-date certificate of ``label`` that the other peer trusts directly
    still does to the heartbeat (one certificate on both peers, each trusting it: the
    heartbeat comes up), and to every other channel."""
    if pair.same_certificate:
        up, who = "the IPsec heartbeat still comes up", "each peer trusts this one directly"
    else:
        other: PeerLabel = "secondary" if label == "primary" else "primary"
        up, who = f"the {other} still authenticates it", f"the {other} trusts it directly"
    return (
        f"{up} (strongSwan does not read the dates of a certificate it trusts directly, and "
        f"{who}), but clients refuse it (agents, web login, admin GUI)"
    )


@dataclass(frozen=True)
class ValidOnBothPeers:
    """Each peer's certificate is valid now. With ``heartbeat`` (4.7+): the IPsec heartbeat
    fails on an expired certificate, unless the other peer trusts that very certificate
    directly (strongSwan does not read its dates then; the clients still refuse it): the
    row then reads ``trusted_item`` and its failure does not break the heartbeat."""

    item: str = "valid now (the IPsec heartbeat fails on an expired certificate)"
    code: str = Code.EXPIRED
    source: str = "RFC 5280 4.1.2.5; the FAQ (HA heartbeat); strongSwan (docs/stacks.md)"
    heartbeat: bool = True
    trusted_item: str = "valid now"

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        dated: list[tuple[PeerLabel, str, str]] = []
        for label in PEERS:
            cert = pair.peer(label).certificate
            if now > cert.not_valid_after_utc:
                dated.append((label, Code.EXPIRED, "expired"))
            elif now < cert.not_valid_before_utc:
                dated.append((label, Code.NOT_YET_VALID, "not valid yet (check the clocks)"))
        unread = {label: self._unread(pair, label, now) for label, _, _ in dated}
        if pair.same_certificate and not all(unread.values()):
            unread = {}  # one certificate, one peer reading its dates: the heartbeat is down
        out = []
        for label, code, why in dated:
            if unread.get(label):
                why = f"{why}: {_heartbeat_up(pair, label)}"
            fix = f"install a valid certificate for {pair.identity} on both peers"
            out.append(Finding(code, f"{_span(pair.peer(label).certificate)}, {why}", fix, label))
        return out

    def _unread(self, pair: HaPair, label: PeerLabel, now: dt.datetime) -> bool:
        """Whether the heartbeat does not read the dates of ``label``'s certificate."""
        if not self.heartbeat:
            return False
        return _dates_unread(pair.peer(label).certificate, pair.other(label).trust, now)

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        same = pair.same_certificate
        p, s = _span(pair.primary.certificate), _span(pair.secondary.certificate)
        return _per_peer_detail(
            findings,
            same,
            p if same else f"primary {p}, secondary {s}",
            _by_peer(findings).get("primary", ""),
        )

    def breaks_heartbeat(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> bool:
        if not self.heartbeat:
            return False
        return any(
            not self._unread(pair, label, now)
            for label in PEERS
            if any(f.subject == label for f in findings)
        )

    def row_item(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> str:
        if findings and self.heartbeat and not self.breaks_heartbeat(pair, findings, now):
            return self.trusted_item  # the parenthesis would be untrue of these peers
        return self.item


@dataclass(frozen=True)
class UsageOnBothPeers:
    """Each peer's certificate is fit for the heartbeat: the key-usage rules of
    :data:`ccapki.trust._fit.USAGE_RULES`, warnings included (the heartbeat is mutual)."""

    item: str = "key usage fit for the heartbeat (digitalSignature, serverAuth + clientAuth)"
    code: str = Code.WRONG_EKU
    source: str = "RFC 5280 4.2.1.3, 4.2.1.12"
    heartbeat: bool = True

    def evaluate(self, pair: HaPair, now: dt.datetime) -> list[Finding]:
        return [
            replace(f, subject=label, severity="error")
            for label in PEERS
            for f in usage_findings(pair.peer(label).certificate, now)
        ]

    def detail(self, pair: HaPair, findings: Sequence[Finding]) -> str:
        same = pair.same_certificate
        return _per_peer_detail(
            findings,
            same,
            "yes" if same else "yes, on both peers",
            _by_peer(findings).get("primary", ""),
        )

    def breaks_heartbeat(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> bool:
        return self.heartbeat and bool(findings)

    def row_item(self, pair: HaPair, findings: Sequence[Finding], now: dt.datetime) -> str:
        return self.item


#: The rows of ``ccapki check-ha``, in order.
HA_RULES: tuple[HaRule, ...] = (
    SameCertificate(),
    KeyMatches("primary"),
    KeyMatches("secondary"),
    SameKey(),
    NamesOnBothPeers(),
    ValidOnBothPeers(),
    UsageOnBothPeers(),
)


#: The rows of ``ccapki check-ha`` on a release before 4.7: no IPsec heartbeat between the
#: peers (the FAQ: "in recent codes (4.7.x and 4.8.x)"), so the same checks say what the pair
#: still needs: one identity clients meet after a failover, naming the pair, valid, fit for
#: TLS both ways (CAM/CAS mutual TLS).
HA_RULES_NO_HEARTBEAT: tuple[HaRule, ...] = (
    *HA_RULES[:5],
    ValidOnBothPeers(
        item="valid now (after a failover clients refuse an expired certificate)", heartbeat=False
    ),
    UsageOnBothPeers(
        item="key usage fit for TLS both ways (digitalSignature, serverAuth + clientAuth)",
        heartbeat=False,
    ),
)


def ha_rules(profile: ReleaseProfile | None) -> tuple[HaRule, ...]:
    """Return the ``check-ha`` rows of a release with ``profile``: :data:`HA_RULES` when
    its heartbeat runs in IPsec keyed by the pair's certificate (4.7+) or the release is
    not known (None), else :data:`HA_RULES_NO_HEARTBEAT`. Raises nothing."""
    if profile is None or profile.ha_ipsec_heartbeat:
        return HA_RULES
    return HA_RULES_NO_HEARTBEAT


def check_ha(
    pair: HaPair,
    now: dt.datetime,
    rules: Sequence[HaRule] | None = None,
    *,
    profile: ReleaseProfile | None = None,
) -> list[HaCheck]:
    """One :class:`HaCheck` row per rule (all pass: fit for HA): ``rules``, else those of
    the release with ``profile`` (:func:`ha_rules`: worded for its heartbeat, or for none
    before 4.7). Raises nothing."""
    if rules is None:
        rules = ha_rules(profile)
    out = []
    for rule in rules:
        findings = rule.evaluate(pair, now)
        peers = tuple(label for label in PEERS if any(f.subject == label for f in findings))
        breaks = bool(findings) and rule.breaks_heartbeat(pair, findings, now)
        out.append(
            HaCheck(
                rule.row_item(pair, findings, now),
                not findings,
                rule.detail(pair, findings),
                peers,
                tuple(findings),
                breaks,
            )
        )
    return out


#: The rows whose failure alone may keep the certificate-keyed heartbeat down: a peer without
#: its certificate's key cannot authenticate, strongSwan refuses an unfit certificate, and
#: an expired one unless it trusts that very certificate directly (then the row reads
#: "valid now" and does not break it: :attr:`HaCheck.breaks_heartbeat` says which).
#: A second certificate, a second key or a missing name do not: two certificates with the
#: same subject DN, each trusted by the other peer, still bring IKE_AUTH up.
HEARTBEAT_ROWS: tuple[str, ...] = (
    KeyMatches("primary").item,
    KeyMatches("secondary").item,
    ValidOnBothPeers().item,
    UsageOnBothPeers().item,
)


def heartbeat_blockers(
    checks: Sequence[HaCheck],
    primary: Sequence[x509.Certificate],
    secondary: Sequence[x509.Certificate],
    primary_trust: Sequence[x509.Certificate],
    secondary_trust: Sequence[x509.Certificate],
    now: dt.datetime,
    *,
    candidates: Sequence[x509.Certificate] = (),
    peers: tuple[str, str] = PEERS,
) -> tuple[str, ...]:
    """Why the IPsec heartbeat of an HA pair cannot come up, as strongSwan judges IKE_AUTH.

    ``checks``: the pair's :func:`check_ha` rows (made with each peer's ``trust``, so the
    validity row says whether strongSwan reads the dates); ``primary``/``secondary``: the chain each
    peer presents (leaf first); ``*_trust``: each peer's trusted certificates;
    ``candidates``: intermediates a peer may hold without sending them; ``peers``: how the
    reasons name the primary and the secondary. Returns the reasons,
    in order (empty: the heartbeat comes up both ways): a failing row that
    :attr:`HaCheck.breaks_heartbeat`; peers whose certificates name different subject DNs (the IKE
    identity each expects is its own certificate's DN); a peer whose trust store does not
    verify the other's chain (mutual: as a server and as a client); two different
    certificates of which one is self-signed (a self-signed peer is trusted as exactly the
    pair's certificate). Raises nothing.
    """
    # imported here: the HA rules load without the stack models
    from ccapki.trust._stacks import Stack, verify_for_stack

    out = [f"{c.item}: {c.detail}" for c in checks if not c.ok and c.breaks_heartbeat]
    if out:
        return tuple(out)
    if not primary or not secondary:
        return ("a peer presents no certificate",)
    p, s = primary[0].subject, secondary[0].subject
    if p != s:
        return (
            f"the peers' certificates name different subjects, {p.rfc4514_string()} and "
            f"{s.rfc4514_string()}: each peer expects its own DN as the other's IKE identity",
        )
    leaves = (primary[0], secondary[0])
    selfsigned = [label for label, c in zip(peers, leaves, strict=True) if is_self_signed(c)]
    if selfsigned and fingerprint(leaves[0]) != fingerprint(leaves[1]):
        # a self-signed peer is trusted as that one certificate (charon as the lab configures
        # it, ``ccapki.lab.ipsec``): another one with the same DN is refused
        return (
            f"the peers present two different certificates (self-signed on the "
            f"{' and the '.join(selfsigned)}): a self-signed peer is trusted only as the "
            "pair's one certificate",
        )
    sides = (
        (peers[0], primary_trust, peers[1], secondary),
        (peers[1], secondary_trust, peers[0], primary),
    )
    fix = "`ccapki trust plan` lists what to add"
    for verifier, trust, presenter, chain in sides:
        if not trust:
            out.append(f"the {verifier}'s trust store is empty: it trusts no {presenter} ({fix})")
            continue
        for purpose in ("server", "client"):
            verdict = verify_for_stack(
                Stack.STRONGSWAN, chain[0], list(chain[1:]), list(trust), purpose=purpose,
                at=now, candidates=candidates, lint=False,
            )  # fmt: skip
            if not verdict.ok:
                why = verdict.errors[0].reason if verdict.errors else "not verified"
                out.append(
                    f"the {verifier} does not trust the {presenter}'s certificate: {why} ({fix})"
                )
                break
    return tuple(out)
