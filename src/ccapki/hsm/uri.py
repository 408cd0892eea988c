"""PKCS#11 URIs (RFC 7512): which token, which key object.

    pkcs11:token=ccapki-ca;object=campus-root;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so

Path attributes honoured: ``token``, ``manufacturer``, ``serial``, ``model`` and ``slot-id``
(which token), ``object``, ``id`` and ``type`` (which key; ``type`` must be ``private``
when given). Query attributes: ``module-path`` (the PKCS#11 module). ``pin-value`` and
``pin-source`` are refused rather than ignored: the PIN comes from ``CCAPKI_PKCS11_PIN``
or a prompt and is never stored. Any other attribute is refused too (nothing is dropped
silently). Values are percent-decoded; ``id`` is bytes.

Pure: parsing and formatting only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from ccapki.errors import InputError

__all__ = ["PIN_ENV", "Pkcs11Uri", "parse_pkcs11_uri"]

#: The environment variable holding a token's user PIN.
PIN_ENV = "CCAPKI_PKCS11_PIN"

_TEXT = ("token", "manufacturer", "serial", "model", "object", "type", "slot-id")
_PATH = (*_TEXT, "id")
_QUERY = ("module-path",)
#: RFC 7512's pk11-pchar / pk11-qchar beside unreserved characters (kept as they are)
_SAFE_PATH = ":[]@!$'()*+,=&"
_SAFE_QUERY = ":[]@!$'()*+,=/?|"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _bad(uri: str, why: str, hint: str) -> InputError:
    return InputError(f"bad PKCS#11 URI {_redact(uri)!r}: {why}", hint)


_HONOURED = frozenset((*_PATH, *_QUERY))
#: anything that may name a PIN, however spelt or escaped (pin-value, PIN-VALUE, pin%2Dvalue)
_PINLIKE = re.compile(r"(?i)(pin[^=;&?]*=)[^;&?]*")


def _redact(uri: str) -> str:
    """``uri`` for an error message: the value of every attribute ccapki does not honour
    hidden (``pin-value`` however spelt or escaped, a vendor's secret), so an error never
    repeats a PIN."""
    text = _PINLIKE.sub(r"\1***", uri)
    scheme, colon, rest = text.partition(":")
    if not colon:
        return text
    path, q, query = rest.partition("?")

    def hide(part: str, sep: str) -> str:
        items = []
        for item in part.split(sep):
            name, eq, value = item.partition("=")
            known = unquote_to_bytes(name).decode("utf-8", "replace").strip().lower()
            if eq and known not in _HONOURED:
                value = "***"
            items.append(name + eq + value)
        return sep.join(items)

    return f"{scheme}:{hide(path, ';')}{q}{hide(query, '&') if q else ''}"


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI naming a token and a key object in it."""

    token: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    slot_id: int | None = None
    object: str | None = None
    id: bytes | None = None
    module_path: str | None = None

    def __str__(self) -> str:
        """The URI in RFC 7512 form (never a PIN): path attributes in a fixed order."""
        parts: list[str] = []
        for name, value in (
            ("token", self.token),
            ("manufacturer", self.manufacturer),
            ("serial", self.serial),
            ("model", self.model),
            ("slot-id", None if self.slot_id is None else str(self.slot_id)),
            ("object", self.object),
        ):
            if value is not None:
                parts.append(f"{name}={quote(value, safe=_SAFE_PATH)}")
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        text = "pkcs11:" + ";".join(parts)
        if self.module_path is not None:
            text += f"?module-path={quote(self.module_path, safe=_SAFE_QUERY)}"
        return text

    @property
    def names_token(self) -> bool:
        """Whether it says which token (by label, serial, slot or maker and model)."""
        return any(
            v is not None
            for v in (self.token, self.serial, self.slot_id, self.manufacturer, self.model)
        )

    @property
    def names_object(self) -> bool:
        """Whether it says which key (by label or id)."""
        return self.object is not None or self.id is not None

    def with_id(self, key_id: bytes) -> Pkcs11Uri:
        """The same URI naming the object's ``id`` too."""
        from dataclasses import replace

        return replace(self, id=key_id)

    def without_module(self) -> Pkcs11Uri:
        """The same URI without ``module-path`` (the store keeps the module apart)."""
        from dataclasses import replace

        return replace(self, module_path=None)

    @property
    def label(self) -> str:
        """A short name for messages: the object (or id) in the token."""
        what = self.object if self.object is not None else (self.id or b"").hex()
        where = self.token or self.serial or (str(self.slot_id) if self.slot_id else "?")
        return f"{what!s} in token {where}"


def _decode(uri: str, name: str, raw: str) -> bytes:
    if _BAD_ESCAPE.search(raw):
        raise _bad(uri, f"{name}= has a % not followed by two hex digits", "write %XX escapes")
    return unquote_to_bytes(raw)


def _text(uri: str, name: str, raw: str) -> str:
    try:
        return _decode(uri, name, raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(uri, f"{name}= is not UTF-8 once decoded", "fix its %XX escapes") from None


def _pairs(uri: str, part: str, sep: str, where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not part:
        return out
    for item in part.split(sep):
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise _bad(
                uri,
                f"{item!r} in its {where} is not NAME=VALUE",
                f"separate {where} attributes with {sep!r}, e.g. pkcs11:token=T;object=O",
            )
        out.append((name, value))
    return out


def parse_pkcs11_uri(text: str) -> Pkcs11Uri:
    """Parse a ``pkcs11:`` URI (RFC 7512). Raises :class:`InputError` for another scheme,
    an attribute given twice, a bad escape, an attribute ccapki does not honour (``pin-value``
    and ``pin-source`` included: the PIN is never taken from a URI), ``type`` other than
    ``private``, or a URI naming no token or no object."""
    uri = text.strip()
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "pkcs11":
        raise _bad(
            uri,
            "it does not start with pkcs11:",
            'write it as "pkcs11:token=LABEL;object=KEY-LABEL" (RFC 7512)',
        )
    if "#" in rest:
        raise _bad(uri, "a PKCS#11 URI has no #fragment", "remove the # part")
    path, _, query = rest.partition("?")
    seen: dict[str, str] = {}
    for where, sep, part, known in (("path", ";", path, _PATH), ("query", "&", query, _QUERY)):
        for name, value in _pairs(uri, part, sep, where):
            if name in ("pin-value", "pin-source"):
                raise _bad(
                    uri,
                    f"{name} is not honoured: ccapki never takes the PIN from a URI "
                    "(it would be stored with it)",
                    f"remove {name} from the URI; set {PIN_ENV} to the token's user PIN, "
                    "or run in a terminal to be asked",
                )
            if name == "module-name":
                raise _bad(
                    uri,
                    "module-name is not honoured (a library search ccapki does not do)",
                    "give the module's file: ?module-path=/usr/lib/softhsm/libsofthsm2.so, "
                    "or CCAPKI_PKCS11_MODULE",
                )
            if name not in known:
                raise _bad(
                    uri,
                    f"the {where} attribute {name!r} is not one ccapki honours",
                    f"use only {', '.join(_PATH)} (path) and module-path (query)",
                )
            if name in seen:
                raise _bad(uri, f"{name} is given twice", f"give {name} once")
            seen[name] = value
    values: dict[str, object] = {}
    for name, raw in seen.items():
        if name == "id":
            values["id"] = _decode(uri, name, raw)
        elif name == "module-path":
            values["module_path"] = _text(uri, name, raw)
        else:
            values[name.replace("-", "_")] = _text(uri, name, raw)
    kind = values.pop("type", None)
    if kind is not None and kind != "private":
        raise _bad(
            uri,
            f"type={kind} names no private key",
            "name the CA's private key: type=private, or leave type out",
        )
    slot = values.pop("slot_id", None)
    if slot is not None:
        if not isinstance(slot, str) or not slot.isdigit():
            raise _bad(uri, f"slot-id={slot} is not a number", "give slot-id as a decimal number")
        values["slot_id"] = int(slot)
    parsed = Pkcs11Uri(**values)  # type: ignore[arg-type]
    if not parsed.names_token:
        raise _bad(
            uri,
            "it names no token",
            "add token=LABEL (the label given at softhsm2-util --init-token, or the HSM's)",
        )
    if not parsed.names_object:
        raise _bad(uri, "it names no key object", "add object=LABEL (and/or id=%XX...)")
    return parsed
