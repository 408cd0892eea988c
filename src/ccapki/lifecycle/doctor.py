"""``ccapki doctor``: is the store itself whole? Every finding names its fix.

Two halves:

- the checks (pure): each takes values read from the store (rows as
  :mod:`ccapki.store.health` returns them, parsed certificates, ``now``) and returns
  :class:`Problem` values; a test can hand them any row without a database;
- :func:`examine` (the IO edge): reads the database and the store folder, streams the rows
  through the checks and returns a :class:`Report`. Read only: a store whose schema is not
  this ccapki's is examined, never migrated.

What is checked: file modes (the store folder, ``ccapki.db``, ``data.key``); the database
(SQLite ``PRAGMA integrity_check``, a PostgreSQL server's reachability) and its schema
revision; the data key; every certificate (readable, its columns true to it, its private key
held, its chain complete and every signature verifying); every identity's versions (one
current, not yet valid, expired; no active key left over from an older version); every
sealed key (it opens, it loads, it is the key of the certificates that name it); every CA
(ours hold their key; external ones need none); the trust entries; old pending keys; the
last backup's age.

Cost: one pass over each table in batches; a key is one AES-GCM open and one DER load, a
certificate one parse and one signature check (chains are shared: each distinct chain is
checked once).
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from ccapki.errors import InputError, StoreError
from ccapki.pki.certs import (
    display_name,
    fingerprint,
    is_self_signed,
    issued_by,
    name_label,
    signed_by,
)
from ccapki.pki.keys import public_key_fingerprint
from ccapki.store.health import CARow, CertRow, DatabaseState, KeyMeta, SealedRow, TrustRow
from ccapki.store.home import LoosePath
from ccapki.store.records import SHARED_CAS

if TYPE_CHECKING:
    from ccapki.store.keyring import Keyring
    from ccapki.store.session import PassphraseProvider, Store

__all__ = [
    "BACKUP_MAX_AGE",
    "PENDING_MAX_AGE",
    "Chains",
    "Problem",
    "Progress",
    "Report",
    "Severity",
    "acme_problems",
    "backup_problems",
    "ca_problems",
    "command",
    "database_problems",
    "examine",
    "identity_problems",
    "key_problem",
    "mode_problems",
    "pending_problems",
    "restore_fix",
    "schema_problems",
    "stale_key_problems",
    "token_key_problems",
    "trust_problem",
    "upgrade_copy_problems",
]

#: A backup older than this is a warning.
BACKUP_MAX_AGE = dt.timedelta(days=7)
#: A pending key (a CSR's, no certificate yet) older than this is a warning.
PENDING_MAX_AGE = dt.timedelta(days=90)

#: The fix for whatever only a backup can bring back.
RESTORE = "restore it from a backup: `ccapki backup restore FILE`"
#: a backup restores into a store that exists: a new one is made with init first
NEW_STORE = "`ccapki --home NEWDIR init && ccapki --home NEWDIR backup restore FILE`"


def command(args: str, deployment: str | None = None) -> str:
    """``ccapki ARGS`` as the fix names it (with ``--deployment`` where the store holds
    several)."""
    return f"ccapki --deployment {deployment} {args}" if deployment else f"ccapki {args}"


def restore_fix(identity: str | None = None, deployment: str | None = None) -> str:
    """The fix that brings an identity (or the whole store) back from a backup."""
    if identity is None:
        return RESTORE
    restore = command(f"backup restore FILE --identity {identity}", deployment)
    return f"restore it from a backup: `{restore}`"


class Severity(enum.StrEnum):
    ERROR = "error"  # the store is damaged or unsafe: exit 1
    WARNING = "warning"  # worth acting on; exit 1 only with --strict


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong with what, and the exact fix."""

    code: str
    severity: Severity
    subject: str
    message: str
    fix: str
    #: the deployment the subject belongs to, when the store holds several
    deployment: str | None = None

    def __post_init__(self) -> None:
        if not (self.code and self.subject and self.message and self.fix):
            raise ValueError("a Problem needs a code, a subject, a message and a fix")

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "subject": self.subject,
            "deployment": self.deployment,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    """What :func:`examine` found, what it checked (counts), and what it could not check."""

    where: str
    problems: tuple[Problem, ...]
    checked: Mapping[str, int]
    skipped: tuple[str, ...] = ()
    deployments: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": not self.errors,
            "store": self.where,
            "deployments": list(self.deployments),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_json() for p in self.problems],
            "checked": dict(self.checked),
            "skipped": list(self.skipped),
        }


#: Told how far a long phase has got: (phase, done, total).
Progress = Callable[[str, int, int], None]


# ---------------------------------------------------------------------------- the folder


def mode_problems(loose: Sequence[LoosePath]) -> list[Problem]:
    """Store paths other users can read or write (the sealed keys, the data key)."""
    return [
        Problem(
            "file-mode",
            Severity.ERROR,
            str(p.path),
            f"other users can read or write {p.path} (mode {p.mode:04o}, wanted {p.wanted:04o})",
            f"run `{p.fix}`",
        )
        for p in loose
    ]


def database_problems(state: DatabaseState) -> list[Problem]:
    """A database that cannot be read, or that SQLite's integrity check finds damaged; a
    read-only one (a warning: reading works, writing commands refuse)."""
    if state.read_only is not None:
        read_only = Problem(
            "store-read-only",
            Severity.WARNING,
            state.where,
            f"the store is read-only ({state.read_only}): reading commands (status, "
            "inspect, trust check, plan, export of certificates) work; commands that write "
            "(apply, renew "
            "--commit, trust apply, import, probe) refuse",
            "if it should be writable: check the permissions of the store folder and "
            f"{Path(state.where).name} (the user running ccapki must be able to write "
            f"both), or the mount (`findmnt -T {Path(state.where).parent}`; "
            "`mount -o remount,rw ...`)",
        )
        if state.error is None and not state.damage:
            return [read_only]
        if state.error is not None:  # read-only and unreadable as it is: not damage
            return [
                read_only,
                Problem(
                    "database-unreadable",
                    Severity.ERROR,
                    state.where,
                    f"the store's database cannot be read where it is: {state.error}",
                    "make the store folder writable (its permissions, or remount it "
                    "read-write) and run `ccapki doctor` again",
                ),
            ]
        return [read_only, *database_problems(replace(state, read_only=None))]
    if state.no_room is not None:  # not damage: nothing could be written beside it
        folder = Path(state.where).parent
        return [
            Problem(
                "database-no-room",
                Severity.ERROR,
                state.where,
                "SQLite cannot write beside the store's database to read it (its -shm "
                f"file): the disk is full or a file-size limit stops it ({state.no_room})",
                f"make room on the disk of {folder} (`df -h {folder}`), or lift the "
                "file-size limit (`ulimit -f unlimited`), then run `ccapki doctor` again",
            )
        ]
    if state.error is not None:
        if state.backend == "sqlite":
            return [
                Problem(
                    "database-unreadable",
                    Severity.ERROR,
                    state.where,
                    f"the store's database cannot be read: {state.error}",
                    f"{RESTORE} into a new store ({NEW_STORE}); "
                    f"keep {state.where} aside for salvage",
                )
            ]
        return [
            Problem(
                "database-unreachable",
                Severity.ERROR,
                state.where,
                f"the database server: {state.error}",
                "check CCAPKI_DATABASE_URL (host, database, user, password) and that the "
                "server is running and reachable from here",
            )
        ]
    if state.damage:
        shown = "; ".join(state.damage[:3]) + (
            f" (and {len(state.damage) - 3} more)" if len(state.damage) > 3 else ""
        )
        return [
            Problem(
                "database-damaged",
                Severity.ERROR,
                state.where,
                f"SQLite's integrity check finds the database damaged: {shown}",
                f"stop writing to it; {RESTORE} into a new store ({NEW_STORE}); to salvage rows "
                f"without a backup: `sqlite3 "
                f"{state.where} .recover | sqlite3 recovered.db`",
            )
        ]
    return []


def schema_problems(
    revision: str, head: str, known: Sequence[str], where: str = "schema"
) -> list[Problem]:
    """The store's schema against this ccapki's: newer (unknown) or older."""
    if revision == head:
        return []
    if revision not in known:
        return [
            Problem(
                "schema-newer",
                Severity.ERROR,
                where,
                f"the store's schema is {revision}, which this ccapki does not know (it knows "
                f"up to {head}): a newer ccapki made or upgraded this store",
                "upgrade ccapki to the release that wrote this store (`pip install -U "
                "ccapki`); do not use this ccapki on it",
            )
        ]
    return [
        Problem(
            "schema-older",
            Severity.ERROR,  # every other command refuses the store until it is upgraded
            where,
            f"the store's schema is {revision}, older than this ccapki's {head}; the checks "
            "of its rows were skipped (doctor never migrates)",
            "run `ccapki upgrade` (it keeps a copy of the store as it was, which the "
            "ccapki that made it can still read); then run `ccapki doctor` again",
        )
    ]


# ---------------------------------------------------------------------------- certificates


def _parse_chain(text: str) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(text.encode())) if text.strip() else ()


@dataclass
class Chains:
    """The CAs a chain may end at (the store's), and each distinct chain checked once.

    A chain is complete when it links the leaf, through every certificate of the stored
    chain, to a self-signed root or to an external CA the store holds (an outside CA whose
    root is not ours to keep); every link's signature verifies.
    """

    cas: Sequence[x509.Certificate] = ()
    external: frozenset[str] = frozenset()  # fingerprints of the store's external CAs
    _memo: dict[str, tuple[tuple[x509.Certificate, ...], ChainProblem | None]] = field(
        default_factory=dict
    )

    def top_problem(self, top: x509.Certificate) -> ChainProblem | None:
        """Why the chain does not end at ``top`` (None: it does)."""
        if is_self_signed(top) or fingerprint(top) in self.external:
            return None
        for ca in self.cas:
            if fingerprint(ca) in self.external and issued_by(top, ca):
                return None
        return ChainProblem(
            f"it stops at {display_name(top)}: it lacks its issuer "
            f"{top.issuer.rfc4514_string()} (the missing intermediate or root)",
            top.issuer,
        )

    def chain(self, text: str) -> tuple[tuple[x509.Certificate, ...], ChainProblem | None]:
        """The parsed chain and why its part above the leaf is broken (None: it is not).
        Raises ValueError when the text does not parse."""
        found = self._memo.get(text)
        if found is None:
            certs = _parse_chain(text)
            found = self._memo[text] = (certs, self._links(certs))
        return found

    def _links(self, certs: Sequence[x509.Certificate]) -> ChainProblem | None:
        for child, parent in itertools.pairwise(certs):
            why = _link_problem(child, parent)
            if why:
                return why
        return self.top_problem(certs[-1]) if certs else None

    def problem(self, leaf: x509.Certificate, text: str) -> ChainProblem | None:
        """Why ``leaf`` with the stored chain ``text`` is not a complete chain."""
        certs, upper = self.chain(text)
        if not certs:
            return self.top_problem(leaf)
        return _link_problem(leaf, certs[0]) or upper


class ChainProblem(NamedTuple):
    """Why a stored chain is not complete (``text``), and, when what it lacks is a
    certificate of an issuer (the chain was taken without it, ``import --force``), that
    issuer's name (``lacks``; None for a link that does not verify)."""

    text: str
    lacks: x509.Name | None = None


def _link_problem(child: x509.Certificate, parent: x509.Certificate) -> ChainProblem | None:
    if issued_by(child, parent):
        return None
    if child.issuer != parent.subject:
        return ChainProblem(
            f"it lacks the issuer of {display_name(child)}, {child.issuer.rfc4514_string()} "
            f"(the missing intermediate or root): {display_name(parent)} comes next",
            child.issuer,
        )
    if signed_by(child, parent):
        return ChainProblem(
            f"the authority key id of {display_name(child)} is not the key id of "
            f"{display_name(parent)}"
        )
    return ChainProblem(
        f"the signature of {display_name(child)} does not verify with the key of "
        f"{display_name(parent)}"
    )


def identity_problems(
    versions: Sequence[CertRow],
    keys: Mapping[str, KeyMeta],
    chains: Chains,
    now: dt.datetime,
    deployment: str | None = None,
    *,
    acme: bool = False,
) -> list[Problem]:
    """The findings of one identity's versions (oldest first; the last is current).
    ``acme``: the identity is ``source = "acme"`` (renewed by an ACME order, not a CSR)."""
    out: list[Problem] = []
    name = versions[-1].identity

    def add(code: str, severity: Severity, subject: str, message: str, fix: str) -> None:
        out.append(Problem(code, severity, subject, message, fix, deployment))

    restore_one = restore_fix(name, deployment)
    numbers = [v.version for v in versions]
    if numbers != list(range(1, len(numbers) + 1)):
        add(
            "versions-gap",
            Severity.WARNING,
            name,
            f"its versions are {', '.join(f'v{n}' for n in numbers)}: versions are missing "
            "or repeated (versions are never deleted)",
            restore_one,
        )
    for row in versions:
        current = row is versions[-1]
        subject = f"{name} v{row.version}"
        try:
            cert = x509.load_pem_x509_certificate(row.pem.encode())
            actual = public_key_fingerprint(cert.public_key())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            add(
                "certificate-unreadable",
                Severity.ERROR,
                subject,
                f"the stored certificate cannot be read ({exc})",
                restore_one,
            )
            continue
        if actual != row.spki or fingerprint(cert) != row.fingerprint:
            add(
                "certificate-mismatch",
                Severity.ERROR,
                subject,
                "the stored certificate is not the one its row describes (fingerprint or "
                "public key differs): the row was changed outside ccapki",
                restore_one,
            )
        if row.spki not in keys:
            add(
                "key-missing",
                Severity.ERROR,
                subject,
                f"the store holds no private key for this certificate (public key "
                f"{row.spki[:16]}...)",
                f"{restore_one}; or import the key saved when the CSR was made "
                f"(`{command(f'import CERT --key KEYFILE --identity {name}', deployment)}`)",
            )
        try:
            why = chains.problem(cert, row.chain_pem)
        except ValueError as exc:
            why = ChainProblem(f"it cannot be read ({exc})")
        if why:
            fix = restore_one
            if why.lacks is not None:
                # taken without its issuer (`import --force`): no backup holds more of it;
                # the store completes the chain from that CA's certificates once it has them
                both = command("import INTERMEDIATE.pem ROOT.pem", deployment)
                fix = (
                    f"import the certificates of its CA, {name_label(why.lacks)} (its "
                    f"intermediate and root): `{both}`; or, had this version's chain been "
                    f"complete once, {restore_one}"
                )
            add(
                "chain-incomplete",
                Severity.ERROR,
                subject,
                f"the stored chain is not complete: {why.text}",
                fix,
            )
        if not current:
            continue
        if cert.not_valid_before_utc > now:
            # apply reissues only what ccapki signs itself; an outside CA's certificate
            # comes back through a CSR (or an ACME order)
            # (in the words `ccapki status` gives its stage not-yet-valid)
            from ccapki.lifecycle.status import not_yet_valid_words

            said, fix = not_yet_valid_words(
                name,
                cert.not_valid_before_utc,
                outside=acme or row.source == "third-party",
                acme=acme,
                deployment=deployment,
            )
            add("not-yet-valid", Severity.ERROR, subject, said, fix)
        if cert.not_valid_after_utc <= now:
            add(
                "expired",
                Severity.ERROR,
                subject,
                f"the current certificate expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                (
                    f"`{command(f'acme order {name}', deployment)}` orders a new one from the "
                    f"ACME CA (as `{command(f'renew {name} --commit', deployment)}` does)"
                )
                if acme
                else "`ccapki apply FILE` renews it (a third-party one: `ccapki csr "
                f"{name}`, then `ccapki import` what the CA returns)",
            )
        meta = keys.get(row.spki)
        if meta is not None and meta.state not in ("active", "ca"):
            add(
                "current-key-state",
                Severity.WARNING,
                subject,
                f"the key of the current certificate is marked {meta.state}, not active",
                f"`ccapki keys list` shows it; `{command(f'export {name}', deployment)}` still "
                "writes it; renew the identity (`ccapki apply FILE`) to get a fresh active key",
            )
    return out


def stale_key_problems(
    keys: Iterable[KeyMeta], current: Mapping[str, str], labels: Callable[[KeyMeta], str | None]
) -> list[Problem]:
    """Active keys no current version holds: left over when an identity was issued twice,
    or a version was lost. ``current``: public-key fingerprint -> identity holding it."""
    out: list[Problem] = []
    for k in keys:
        if k.state != "active" or k.fingerprint in current:
            continue
        who = k.identity or "no identity"
        where = labels(k)
        out.append(
            Problem(
                "stale-active-key",
                Severity.WARNING,
                f"key {k.fingerprint[:16]}",
                f"the key is marked active for {who} but no current certificate holds it "
                "(an older version kept its active key: the identity was issued twice, "
                "or a version is missing)",
                f"`{command(f'export {k.identity}', where)}` writes the current version: make "
                "sure the appliances hold it (`ccapki verify --live`); the leftover key stays "
                "sealed"
                if k.identity
                else "`ccapki keys list` shows it; it stays sealed, nothing uses it",
                where,
            )
        )
    return out


def ca_problems(
    rows: Sequence[CARow],
    keys: Mapping[str, KeyMeta],
    labels: Callable[[str], str | None],
    in_token: frozenset[str] = frozenset(),
) -> tuple[list[Problem], list[x509.Certificate], frozenset[str]]:
    """The CAs' findings (ours must hold their key, or know it is in a PKCS#11 token:
    ``in_token``, public-key fingerprints; external ones need none), their certificates
    and the fingerprints of the external ones."""
    out: list[Problem] = []
    certs: list[x509.Certificate] = []
    external: set[str] = set()
    for r in rows:
        subject = f"CA {r.name}"
        try:
            cert = x509.load_pem_x509_certificate(r.pem.encode())
        except ValueError as exc:
            out.append(
                Problem(
                    "ca-unreadable",
                    Severity.ERROR,
                    subject,
                    f"the stored CA certificate cannot be read ({exc})",
                    RESTORE,
                    labels(r.deployment),
                )
            )
            continue
        certs.append(cert)
        if r.kind == "external":
            external.add(fingerprint(cert))
        elif r.spki not in keys and r.spki not in in_token:
            out.append(
                Problem(
                    "ca-key-missing",
                    Severity.ERROR,
                    subject,
                    f"the store holds no signing key for this {r.kind} CA (public key "
                    f"{r.spki[:16]}...): it cannot issue or renew",
                    RESTORE,
                    labels(r.deployment),
                )
            )
    return out, certs, frozenset(external)


# ---------------------------------------------------------------------------- keys


def token_key_problems(
    store: Store,
    rows: Sequence[CARow],
    wanted: Callable[[str], bool],
    labels: Callable[[str], str | None],
) -> tuple[list[Problem], list[str], int]:
    """The CA keys in PKCS#11 tokens (issue 14): the module loads and the token is
    present; with ``CCAPKI_PKCS11_PIN`` set, the key object is there and signs a test
    message that its public key verifies. Returns (findings, what was skipped, keys
    checked)."""
    import os

    from ccapki.errors import TokenError
    from ccapki.hsm.token import reach_token
    from ccapki.hsm.uri import PIN_ENV, parse_pkcs11_uri
    from ccapki.pki.signer import ExternalSignatureError, self_test

    names = {r.spki: r.name for r in rows}
    records = [r for r in store.token_keys.list() if wanted(r.deployment)]
    out: list[Problem] = []
    skipped: list[str] = []
    pin = bool(os.environ.get(PIN_ENV))
    for rec in records:
        subject = f"CA {names.get(rec.fingerprint, rec.fingerprint[:16])}"
        try:
            if pin:
                self_test(store.token_keys.open(rec))
            else:
                reach_token(parse_pkcs11_uri(rec.uri), module=rec.module)
        except (TokenError, InputError) as exc:
            out.append(
                Problem(
                    "ca-token",
                    Severity.ERROR,
                    subject,
                    f"its key in a PKCS#11 token cannot sign: {exc.message}",
                    exc.hint,
                    labels(rec.deployment),
                )
            )
        except ExternalSignatureError as exc:
            out.append(
                Problem(
                    "ca-token",
                    Severity.ERROR,
                    subject,
                    f"its key in a PKCS#11 token ({rec.uri}) signs wrongly: {exc}",
                    "check the token with its own tool; replace the key object from the "
                    "token's backup",
                    labels(rec.deployment),
                )
            )
    if records and not pin:
        skipped.append(
            f"signing with the CA keys in PKCS#11 tokens: {PIN_ENV} is not set (the module "
            "and the tokens were checked)"
        )
    return out, skipped, len(records)


def acme_problems(
    store: Store,
    names: Sequence[str],
    labels: Callable[[str], str | None],
    *,
    identities: set[tuple[str, str]] | None = None,
) -> tuple[list[Problem], list[str], int]:
    """For each deployment of ``names`` whose stored file has ACME identities (issue 14):
    the ACME directory answers over HTTPS verified with the file's ``ca_bundle``, and the
    store's account is still valid at the CA (:func:`ccapki.lifecycle.acme.check_account`:
    the network is asked, the store only read). Returns (findings, what was skipped,
    deployments checked); adds ``(deployment, identity)`` of every ACME identity to
    ``identities`` when given."""
    from ccapki.api import stored_deployment
    from ccapki.errors import CcapkiError

    out: list[Problem] = []
    skipped: list[str] = []
    checked = 0
    for name in names:
        with store.fork(deployment=None) as view:
            view.use(name)
            kept = view.deployments.latest()
            if kept is None or "acme" not in kept.text:
                continue  # no [acme] table: not parsed (a large file takes a while)
            try:
                dep = stored_deployment(view, name)
            except CcapkiError:
                continue  # no file, or one that no longer parses: not the ACME check's to say
            if dep.acme is None or not any(i.acme for i in dep.identities):
                continue
            if identities is not None:
                identities.update((name, i.name) for i in dep.identities if i.acme)
            try:
                from ccapki.lifecycle.acme import check_account

                found = check_account(view, dep)
            except ModuleNotFoundError as exc:
                skipped.append(
                    f"the ACME account of {name}: the {exc.name} package is not installed "
                    "(pip install 'ccapki[acme]')"
                )
                continue
        checked += 1
        for f in found:
            out.append(
                Problem(
                    f.code,
                    Severity.ERROR if f.error else Severity.WARNING,
                    f.subject,
                    f.message,
                    f.fix,
                    labels(name),
                )
            )
    return out, skipped, checked


def _key_subject(row: SealedRow | KeyMeta) -> str:
    owner = row.identity or ("a CA" if row.state == "ca" else "no identity")
    return f"key {row.fingerprint[:16]} ({owner}, {row.state})"


def key_problem(row: SealedRow, keyring: Keyring, deployment: str | None = None) -> Problem | None:
    """Whether a sealed key opens, loads, and is the key its fingerprint names (so the key
    of every certificate naming that public key)."""
    fix = restore_fix(row.identity, deployment)
    subject = _key_subject(row)
    try:
        der = keyring.open(row.nonce, row.sealed, row.fingerprint)
    except StoreError:
        return Problem(
            "key-damaged",
            Severity.ERROR,
            subject,
            "the sealed private key does not open with the store's data key (its bytes were "
            "changed: AES-GCM authentication fails)",
            fix,
            deployment,
        )
    try:
        key = serialization.load_der_private_key(
            der, password=None, unsafe_skip_rsa_key_validation=True
        )
        actual = public_key_fingerprint(key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        return Problem(
            "key-unreadable",
            Severity.ERROR,
            subject,
            f"the key opens but is not a private key ccapki can load ({exc})",
            fix,
            deployment,
        )
    if actual != row.fingerprint:
        return Problem(
            "key-mismatch",
            Severity.ERROR,
            subject,
            f"the sealed key is the key of public key {actual[:16]}..., not of the "
            "certificates that name this one",
            fix,
            deployment,
        )
    return None


def pending_problems(
    keys: Iterable[KeyMeta],
    now: dt.datetime,
    labels: Callable[[KeyMeta], str | None],
    max_age: dt.timedelta = PENDING_MAX_AGE,
) -> list[Problem]:
    """Pending keys (made for a CSR) that have waited longer than ``max_age``."""
    return [
        Problem(
            "pending-key-old",
            Severity.WARNING,
            _key_subject(k),
            f"made {k.created_at:%Y-%m-%d} for a CSR ({(now - k.created_at).days} days ago) "
            "and still no certificate",
            "import the certificate the CA returned (`ccapki import FILE`), or give the key "
            f"up: `{command(f'keys retire {k.fingerprint[:16]}', labels(k))}`",
            labels(k),
        )
        for k in keys
        if k.state == "pending" and now - k.created_at > max_age
    ]


# ---------------------------------------------------------------------------- the rest


def trust_problem(
    row: TrustRow, parse: Callable[[str], x509.Certificate], deployment: str | None = None
) -> Problem | None:
    """A trust entry that does not parse, or is not the certificate its row names."""
    remove = command(f"trust remove {row.appliance} {row.fingerprint[:16]}", deployment)
    fix = f"`{remove}`, then `{command('trust apply', deployment)}` adds what the plan needs"
    try:
        cert = parse(row.pem)
    except ValueError as exc:
        return Problem(
            "trust-unreadable",
            Severity.ERROR,
            f"trust {row.appliance}",
            f"the trusted certificate {row.fingerprint[:16]} cannot be read ({exc})",
            fix,
            deployment,
        )
    if fingerprint(cert) != row.fingerprint:
        return Problem(
            "trust-mismatch",
            Severity.ERROR,
            f"trust {row.appliance}",
            f"the entry {row.fingerprint[:16]} holds another certificate "
            f"({fingerprint(cert)[:16]}): the row was changed outside ccapki",
            fix,
            deployment,
        )
    return None


def trust_gap_problems(
    store: Store, name: str, deployment: str | None, skipped: list[str]
) -> list[Problem]:
    """The trust-store entries deployment ``name``'s channels need that its trust stores
    lack (what `apply` adds; an apply interrupted after its last identity leaves them
    all), as one warning. Reads only; a kept deployment file that no longer parses is
    noted in ``skipped``."""
    from ccapki.errors import CcapkiError
    from ccapki.lifecycle.apply import trust_additions
    from ccapki.topology.fastload import parse_deployment

    with store.scoped(name):
        kept = store.deployments.latest()
        if kept is None:
            return []
        try:
            dep = parse_deployment(kept.text, kept.path or f"<stored deployment {name}>")
            missing = trust_additions(store, dep)
        except CcapkiError as exc:
            skipped.append(f"the trust stores of {name}: {exc.message}")
            return []
        except ValueError as exc:  # an entry that does not parse: reported on its own
            skipped.append(f"the trust stores of {name}: an entry cannot be read ({exc})")
            return []
    if not missing:
        return []
    stores = sorted({c.appliance for c in missing})
    shown = ", ".join(stores[:5]) + (f" and {len(stores) - 5} more" if len(stores) > 5 else "")
    return [
        Problem(
            "trust-incomplete",
            Severity.WARNING,
            f"trust {name}",
            f"{len(missing)} trust-store {'entry' if len(missing) == 1 else 'entries'} its "
            f"channels need {'is' if len(missing) == 1 else 'are'} missing ({shown}): those "
            "links fail until added (a certificate imported since, whose trust-store changes "
            "`ccapki trust apply` makes; an entry removed by hand with `ccapki trust remove`; "
            "or an apply interrupted after its last identity)",
            f"`{command('apply FILE', deployment)}` with the deployment's file, or "
            f"`{command('trust apply', deployment)}`; `ccapki trust check` shows each link",
            deployment,
        )
    ]


def backup_problems(
    last: dt.datetime | None,
    now: dt.datetime,
    max_age: dt.timedelta = BACKUP_MAX_AGE,
    *,
    restored: tuple[dt.datetime, str] | None = None,
) -> list[Problem]:
    """No backup on record, or the last one is older than ``max_age``. ``last``: the
    newest ``backup create`` of this store; ``restored``: the newest backup the store was
    restored from (made at, its file), which exists too: the newer of the two counts."""
    fix = "`ccapki backup create --out FILE` (and keep FILE away from this machine)"
    source = None
    if restored is not None and (last is None or restored[0] > last):
        last, source = restored
    if last is None:
        return [
            Problem(
                "backup-none",
                Severity.WARNING,
                "backup",
                "no backup on record: losing this store loses every private key in it",
                fix,
            )
        ]
    if now - last > max_age:
        what = (
            "the last backup"
            if source is None
            else f"the backup this store was restored from ({source}), the last one known,"
        )
        return [
            Problem(
                "backup-old",
                Severity.WARNING,
                "backup",
                f"{what} was made {last:%Y-%m-%d %H:%M} UTC, {(now - last).days} days ago",
                fix,
            )
        ]
    return []


def upgrade_copy_problems(
    copies: Sequence[tuple[Path, str, dt.datetime]], db: Path, now: dt.datetime
) -> list[Problem]:
    """A warning for each copy `ccapki upgrade` kept beside the store's SQLite database
    ``db`` (``copies``: path, schema revision, made at; as
    :func:`ccapki.store.session.kept_copies` lists them): it holds every key of the store
    as it was, and is only for going back to the ccapki that made it."""
    out = []
    for path, revision, made in copies:
        days = max(0, (now - made).days)
        age = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
        out.append(
            Problem(
                "upgrade-copy-kept",
                Severity.WARNING,
                str(path),
                f"the copy `ccapki upgrade` kept of the store (schema {revision}, made "
                f"{made:%Y-%m-%d %H:%M} UTC, {age}) is still beside {db.name}: it holds "
                "the store's keys as they were, for going back to the ccapki that made it",
                f"once the upgraded store serves you, delete it: `rm {path}` (to go back "
                f"instead, put it back as {db.name})",
            )
        )
    return out


# ---------------------------------------------------------------------------- the IO edge


def _grouped(rows: Iterable[CertRow]) -> Iterator[list[CertRow]]:
    for _, group in itertools.groupby(rows, key=lambda r: (r.deployment, r.identity)):
        yield list(group)


def examine(
    home: Path,
    url: str | None,
    *,
    passphrase: PassphraseProvider,
    now: dt.datetime,
    deployment: str | None = None,
    quick: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Examine the store in ``home`` (or at ``url``): every check, read only.

    Raises :class:`StoreError` when there is no store to examine (nothing there, or
    another program's database), :class:`InputError` for an unknown ``deployment``, and
    what unlocking raises (a wrong passphrase). Everything found in a store is a
    :class:`Problem`, never an exception.
    """
    from ccapki.home import DB_NAME, KEY_FILE
    from ccapki.store import health
    from ccapki.store import schema as t
    from ccapki.store.home import loose_paths

    problems = mode_problems(loose_paths(home, url))
    checked: dict[str, int] = {}
    skipped: list[str] = []
    where = str(home / DB_NAME) if url is None else "CCAPKI_DATABASE_URL"

    def report(deployments: Sequence[str] = ()) -> Report:
        return Report(where, tuple(problems), checked, tuple(skipped), tuple(deployments))

    if url is None and not (home / DB_NAME).exists():
        if not (home / KEY_FILE).exists():
            raise StoreError(
                f"no ccapki store at {home}",
                "point --home / CCAPKI_HOME at your store (or CCAPKI_DATABASE_URL)",
            )
        problems.append(
            Problem(
                "database-missing",
                Severity.ERROR,
                str(home / DB_NAME),
                f"the store's database is missing: {home} holds only its data.key",
                f"put back a copy of {DB_NAME}; or restore a backup into a new store there: "
                f"`mv {home / KEY_FILE} {home / KEY_FILE}.old && ccapki init --key-file && "
                "ccapki backup restore FILE`",
            )
        )
        skipped.append("everything in the database: there is none")
        return report()

    state = health.examine_database(home, url, quick=quick)
    where = state.where
    problems += database_problems(state)
    sqlite_db = _sqlite_db(home, url)
    if sqlite_db is not None:  # a copy `ccapki upgrade` kept, still lying beside it
        from ccapki.store.session import kept_copies

        problems += upgrade_copy_problems(kept_copies(sqlite_db), sqlite_db, now)
    if state.error is not None or state.damage:
        skipped.append("the store's rows: the database cannot be read safely")
        return report()
    checked["database"] = 1
    if state.revision is None:
        raise StoreError(
            f"{where} holds no ccapki schema: it is not a ccapki store",
            "point --home / CCAPKI_HOME (or CCAPKI_DATABASE_URL) at your store"
            if url is None
            # a database server's database: --home does not choose it (as Store.open says)
            else "run `ccapki init` to create the store in it (or check CCAPKI_DATABASE_URL)",
        )
    schema = schema_problems(state.revision, t.SCHEMA_HEAD, health.known_revisions(), where)
    if state.read_only is not None:  # no command can migrate it where it is
        schema = [
            replace(
                p,
                fix="make the store writable once (its permissions, or remount it "
                "read-write), then run `ccapki upgrade`; or read it with the ccapki that "
                "made it",
            )
            if p.code == "schema-older"
            else p
            for p in schema
        ]
    elif url is not None and not url.startswith("sqlite:"):  # no copy kept: pg_dump first
        from ccapki.store.session import upgrade_hint

        fix = f"{upgrade_hint(url, state.revision)} (then run `ccapki doctor` again)"
        schema = [replace(p, fix=fix) if p.code == "schema-older" else p for p in schema]
    problems += schema
    if schema:
        skipped.append(f"the store's rows: its schema {state.revision} is not {t.SCHEMA_HEAD}")
        return report()

    from ccapki.store.session import Store

    # every row read in one snapshot: a command committing meanwhile (a renewal's
    # certificate and key) is seen whole or not at all, never half
    try:
        with (
            Store.open(home, url=url, passphrase=passphrase, clock=lambda: now) as store,
            store.read_snapshot(),
        ):
            return _examine_rows(
                store, problems, checked, skipped, where, now, deployment, progress
            )
    except Exception as exc:
        # damage SQLite's integrity check does not see (a text column that is not UTF-8
        # any more) stops the rows' reading: a problem found, never exit 70
        from ccapki._util import sqlite_trouble

        trouble = sqlite_trouble(exc)
        if trouble is None or trouble[0] != "damaged":
            raise
        problems.append(
            Problem(
                "database-damaged",
                Severity.ERROR,
                where,
                f"the store's database is damaged where its integrity check does not "
                f"look: reading its rows failed ({trouble[1]})",
                f"stop writing to it; {RESTORE} into a new store ({NEW_STORE}); to salvage "
                f"rows without a backup: `sqlite3 {where} .recover | sqlite3 recovered.db`",
            )
        )
        skipped.append("the store's rows: reading them failed")
        return report()


def _sqlite_db(home: Path, url: str | None) -> Path | None:
    """The store's SQLite file (``ccapki.db``, or the file a ``sqlite:///`` URL names);
    None on a database server."""
    from ccapki.home import DB_NAME

    if url is None:
        return home / DB_NAME
    if not url.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:  # not a URL: examine_database said so
        return None
    return Path(database) if database else None


def _examine_rows(
    store: Store,
    problems: list[Problem],
    checked: dict[str, int],
    skipped: list[str],
    where: str,
    now: dt.datetime,
    deployment: str | None,
    progress: Progress | None,
) -> Report:
    from ccapki.store import health

    names = store.deployments.names()
    if deployment is not None and deployment not in names:
        raise InputError(
            f"the store holds no deployment {deployment!r}",
            f"name one it holds ({', '.join(names)}; `ccapki deployments` lists them)"
            if names
            else "leave out --deployment (the store holds none yet)",
        )
    several = len(names) > 1

    def label(name: str) -> str | None:
        return name if several and name != SHARED_CAS else None

    def key_label(k: KeyMeta) -> str | None:
        return label(k.deployment)

    def wanted(name: str) -> bool:  # the shared CAs (and their keys) belong to every one
        return deployment is None or name in (deployment, SHARED_CAS)

    keys = health.key_index(store)
    own_keys = [k for k in keys.values() if wanted(k.deployment)]

    # the data key: a key file that is missing or damaged stops the key checks only
    keyring: Keyring | None = None
    try:
        keyring = store.keyring
    except StoreError as exc:
        problems.append(Problem("data-key", Severity.ERROR, "data.key", exc.message, exc.hint))
        skipped.append("opening the sealed keys: the data key is not available")

    # a chain may end at any deployment's CA (CAs may be shared); only the deployment's
    # own CAs are reported on
    ca_rows = health.ca_rows(store)
    in_token = frozenset(r.fingerprint for r in store.token_keys.list())
    _, ca_certs, external = ca_problems(ca_rows, keys, label, in_token)
    ca_found, own_cas, _ = ca_problems(
        [r for r in ca_rows if wanted(r.deployment)], keys, label, in_token
    )
    problems += ca_found
    if in_token:  # CA keys in PKCS#11 tokens: reachable, and signing when the PIN is given
        token_found, token_skipped, checked["token_keys"] = token_key_problems(
            store, ca_rows, wanted, label
        )
        problems += token_found
        skipped += token_skipped
    chains = Chains(ca_certs, external)
    checked["cas"] = len(own_cas)
    # ACME (issue 14): the directory reachable, the account still valid (the network)
    acme_ids: set[tuple[str, str]] = set()
    acme_found, acme_skipped, acme_checked = acme_problems(
        store, [n for n in names if wanted(n)], label, identities=acme_ids
    )
    problems += acme_found
    skipped += acme_skipped
    if acme_checked:
        checked["acme_accounts"] = acme_checked

    total = health.certificate_count(store, deployment)
    done = identities = 0
    current: dict[str, str] = {}  # public-key fingerprint -> identity (current versions)
    for versions in _grouped(health.iter_certificates(store, deployment)):
        first = versions[0]
        problems += identity_problems(
            versions,
            keys,
            chains,
            now,
            label(first.deployment),
            acme=(first.deployment, first.identity) in acme_ids,
        )
        current[versions[-1].spki] = versions[-1].identity
        identities += 1
        done += len(versions)
        if progress is not None and (identities % 500 == 0 or done == total):
            progress("certificates", done, total)
    checked["identities"] = identities
    checked["certificates"] = done
    problems += stale_key_problems(own_keys, current, key_label)

    if keyring is not None:
        found: list[Problem] = []
        opened = 0
        for n, row in enumerate(health.iter_sealed(store, deployment), start=1):
            problem = key_problem(row, keyring, label(row.deployment))
            if problem is None:
                opened += 1
            else:
                found.append(problem)
            if progress is not None and (n % 500 == 0 or n == len(own_keys)):
                progress("keys", n, len(own_keys))
        if len(found) > 1 and opened == 0 and all(p.code == "key-damaged" for p in found):
            # not one key opens: the data key is the wrong one, not every key damaged
            problems.append(
                Problem(
                    "data-key-wrong",
                    Severity.ERROR,
                    "data.key",
                    f"none of the {len(found)} sealed keys opens with the data key: it is not "
                    "this store's data key (replaced or damaged)",
                    f"restore this store's data.key from your backup into {store.home}",
                )
            )
        else:
            problems += found
        checked["keys"] = len(own_keys)

    problems += pending_problems(own_keys, now, key_label)

    parsed: dict[str, x509.Certificate] = {}

    def parse(pem: str) -> x509.Certificate:
        cert = parsed.get(pem)
        if cert is None:
            cert = parsed[pem] = x509.load_pem_x509_certificate(pem.encode())
        return cert

    entries = 0
    for entry in health.iter_trust(store, deployment):
        entries += 1
        trust = trust_problem(entry, parse, label(entry.deployment))
        if trust is not None:
            problems.append(trust)
    checked["trust_entries"] = entries
    for name in names:
        if name != SHARED_CAS and wanted(name):
            problems += trust_gap_problems(store, name, label(name), skipped)

    problems += backup_problems(
        health.last_audit(store, "backup-create"),
        now,
        restored=health.last_restored_backup(store),
    )
    return Report(where, tuple(problems), checked, tuple(skipped), tuple(names))
