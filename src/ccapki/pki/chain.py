"""Sorting a bag of certificates into chains, and matching certificates to private keys.

A CA hands back certificates in any order: leaf first or last, intermediates shuffled, the root
sometimes included, sometimes a stray certificate from another order. :func:`sort_chain` finds
the leaf, orders the intermediates leaf-upward, picks the root, and names the issuer that is
missing when the chain stops short. :func:`group_chains` does the same for a batch holding
several leaves. A link ``child -> parent`` counts only when the names match, the key
identifiers agree (when both are present) and the parent's key verifies the signature (SHA-1
included: :func:`ccapki.pki.certs.issued_by`), so a look-alike certificate never slips into a
chain while a Perfigo-era SHA-1 root still ends one.

:class:`KeyIndex` matches certificates to private keys by public-key fingerprint: built once
from any number of keys, each :meth:`KeyIndex.match` is one dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ccapki.errors import InputError
from ccapki.pki.certs import fingerprint, is_ca, is_self_signed, issued_by
from ccapki.pki.keys import public_key_fingerprint

__all__ = ["KeyIndex", "SortedChain", "extend_chain", "group_chains", "sort_chain"]

V = TypeVar("V")


@dataclass(frozen=True)
class SortedChain:
    """One certificate chain, sorted.

    ``intermediates`` run from the leaf's issuer upward. ``root`` is a self-signed CA
    certificate other than the leaf (a true self-signed leaf is its own root: then ``root`` is
    None and :attr:`leaf_is_self_signed` is True). ``missing_issuer`` names the issuer of the
    topmost certificate when nothing in the set issued it and it is not self-signed.
    ``extras`` are certificates of the set that belong to no link of this chain.
    """

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None
    missing_issuer: x509.Name | None = None
    extras: tuple[x509.Certificate, ...] = ()

    @property
    def leaf_is_self_signed(self) -> bool:
        return is_self_signed(self.leaf)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Everything above the leaf, leaf-upward: intermediates, then the root if present."""
        return self.intermediates + ((self.root,) if self.root is not None else ())

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Leaf, intermediates, root: the order of a PEM bundle."""
        return (self.leaf, *self.chain)

    @property
    def complete(self) -> bool:
        """True when the chain reaches a self-signed certificate (a root or the leaf itself)."""
        return self.missing_issuer is None


class _Graph:
    """Verified issuer links among a set of distinct certificates, found by subject lookup."""

    def __init__(self, certs: Sequence[x509.Certificate]) -> None:
        unique: dict[str, x509.Certificate] = {}
        for cert in certs:
            unique.setdefault(fingerprint(cert), cert)
        self.certs: list[x509.Certificate] = list(unique.values())
        by_subject: dict[bytes, list[int]] = {}
        for i, cert in enumerate(self.certs):
            by_subject.setdefault(cert.subject.public_bytes(), []).append(i)
        self.self_signed: list[bool] = [is_self_signed(c) for c in self.certs]
        self.parents: list[list[int]] = [[] for _ in self.certs]
        self.issues_others: list[bool] = [False] * len(self.certs)
        for i, cert in enumerate(self.certs):
            for j in by_subject.get(cert.issuer.public_bytes(), ()):
                if i != j and issued_by(cert, self.certs[j]):
                    self.parents[i].append(j)
                    self.issues_others[j] = True

    def is_ca(self, i: int) -> bool:
        return is_ca(self.certs[i])

    def leaves(self) -> list[int]:
        """Certificates that issue none of the others; end-entity ones first."""
        bottom = [i for i in range(len(self.certs)) if not self.issues_others[i]]
        return sorted(bottom, key=lambda i: (self.is_ca(i), i))

    def best_path(self, start: int) -> list[int]:
        """The path upward from ``start``: ending in a self-signed root if any path does,
        then the shortest such path, then input order."""
        best: tuple[int, int, list[int]] | None = None
        stack: list[list[int]] = [[start]]
        while stack:
            path = stack.pop()
            top = path[-1]
            parents = [p for p in self.parents[top] if p not in path]
            if not parents:
                rank = (0 if self.self_signed[top] else 1, len(path), path)
                if best is None or rank[:2] < best[:2]:
                    best = rank
                continue
            stack.extend([*path, p] for p in reversed(parents))
        assert best is not None
        return best[2]

    def chain(self, start: int) -> tuple[SortedChain, set[int]]:
        path = self.best_path(start)
        top = path[-1]
        root: x509.Certificate | None = None
        missing: x509.Name | None = None
        inter = path[1:]
        if self.self_signed[top]:
            if top != start:
                root = self.certs[top]
                inter = path[1:-1]
        else:
            missing = self.certs[top].issuer
        chain = SortedChain(
            leaf=self.certs[start],
            intermediates=tuple(self.certs[i] for i in inter),
            root=root,
            missing_issuer=missing,
        )
        return chain, set(path)


def extend_chain(
    chain: Sequence[x509.Certificate], pool: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """``chain`` (leaf first) extended upwards with issuers found in ``pool``.

    Each step takes the first certificate of ``pool`` (not yet on the chain) whose subject
    is the top's issuer and whose key verifies its signature, until the top is self-signed
    or no issuer is found. Returns the chain as a tuple (an empty one unchanged); raises
    nothing. The one home of this walk: the trust engine's ``complete_chain`` and the
    client roots use it.
    """
    out = list(chain)
    if not out or is_self_signed(out[-1]):  # complete already: no fingerprints needed
        return tuple(out)
    seen = {fingerprint(c) for c in out}
    while not is_self_signed(out[-1]) and len(out) < 32:
        top = out[-1]
        parent = next(
            (
                c
                for c in pool
                if c.subject == top.issuer and fingerprint(c) not in seen and issued_by(top, c)
            ),
            None,
        )
        if parent is None:
            break
        out.append(parent)
        seen.add(fingerprint(parent))
    return tuple(out)


def sort_chain(certs: Iterable[x509.Certificate]) -> SortedChain:
    """Sort ``certs`` into one chain: leaf, intermediates leaf-upward, root, extras.

    The leaf is a certificate that issued none of the others: preferably an end-entity one
    that is not self-signed (old v1 roots carry no basicConstraints), then the one whose chain
    is complete, then the first given.
    Duplicates are dropped. Everything not on the chain goes to ``extras``, in input order.
    """
    graph = _Graph(list(certs))
    if not graph.certs:
        raise InputError("no certificates to sort into a chain", "give at least one certificate")
    candidates = graph.leaves() or [0]
    best: tuple[tuple[bool, bool, int], SortedChain, set[int]] | None = None
    for leaf in candidates:
        chain, used = graph.chain(leaf)
        rank = (graph.is_ca(leaf), graph.self_signed[leaf], 0 if chain.complete else 1)
        if best is None or rank < best[0]:
            best = (rank, chain, used)
    assert best is not None
    _, chain, used = best
    extras = tuple(c for i, c in enumerate(graph.certs) if i not in used)
    return SortedChain(chain.leaf, chain.intermediates, chain.root, chain.missing_issuer, extras)


def group_chains(certs: Iterable[x509.Certificate]) -> list[SortedChain]:
    """Sort a batch holding several leaves into one chain per leaf, in input order.

    Intermediates and roots shared by several leaves appear in each of their chains. A
    certificate that lands on no chain (say, an alternative cross-signed intermediate) gets
    a chain of its own, so every certificate of the batch is accounted for. ``extras`` is
    always empty here.
    """
    graph = _Graph(list(certs))
    chains: list[SortedChain] = []
    covered: set[int] = set()
    for leaf in sorted(graph.leaves()):
        chain, used = graph.chain(leaf)
        chains.append(chain)
        covered |= used
    for i in range(len(graph.certs)):
        if i not in covered:
            chain, used = graph.chain(i)
            chains.append(chain)
            covered |= used
    return chains


class KeyIndex(Generic[V]):
    """Certificates matched to private keys by public-key fingerprint, one lookup each.

    ``KeyIndex.from_keys(keys)`` indexes private keys themselves;
    ``KeyIndex(mapping)`` indexes anything (stored key records, say) by a fingerprint the
    caller already has (:func:`ccapki.pki.keys.public_key_fingerprint`). The first entry for a
    fingerprint wins.
    """

    def __init__(self, by_fingerprint: Mapping[str, V] | None = None) -> None:
        self._index: dict[str, V] = dict(by_fingerprint or {})

    @classmethod
    def from_keys(cls, keys: Iterable[PrivateKeyTypes]) -> KeyIndex[PrivateKeyTypes]:
        index: KeyIndex[PrivateKeyTypes] = KeyIndex()
        for key in keys:
            index.add(public_key_fingerprint(key), key)
        return index

    def add(self, fingerprint: str, value: V) -> None:
        """Index ``value`` under ``fingerprint`` unless something is there already."""
        self._index.setdefault(fingerprint, value)

    def match(self, cert: x509.Certificate | x509.CertificateSigningRequest) -> V | None:
        """The entry whose public key is ``cert``'s, or None."""
        return self._index.get(public_key_fingerprint(cert.public_key()))

    def get(self, fingerprint: str) -> V | None:
        return self._index.get(fingerprint)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._index

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)
