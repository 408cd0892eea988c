"""CA keys in a PKCS#11 token, through python-pkcs11.

:func:`open_token_key` loads the module, finds the token the URI names, logs in with the
user PIN (from ``CCAPKI_PKCS11_PIN`` or the caller's prompt; never stored, never logged)
and finds the key object, or generates it in the token (sensitive, not extractable) when
asked to. The :class:`TokenKey` it returns is an :class:`~ccapki.pki.signer.ExternalKey`:
RSA signs with ``CKM_SHA256_RSA_PKCS`` (or SHA-384), ECDSA with ``CKM_ECDSA`` over the
digest (the token's raw ``r || s`` becomes a DER ``ECDSA-Sig-Value``).

Every failure is a :class:`~ccapki.errors.TokenError` with a hint: a module that is not
there or does not load, no such token, a wrong or locked PIN, a key object removed. One
session per token per process (PKCS#11 logs in per application); :func:`close_all` ends
them and finalizes the modules.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ccapki.errors import TokenError
from ccapki.hsm.uri import PIN_ENV, Pkcs11Uri
from ccapki.pki.keys import KeyType, key_type_name
from ccapki.pki.signer import ExternalKey

__all__ = [
    "MODULE_ENV",
    "PinProvider",
    "TokenKey",
    "close_all",
    "env_pin",
    "load_module",
    "login",
    "module_for",
    "open_token_key",
    "reach_token",
]

#: The environment variable naming the PKCS#11 module (a shared library) on this machine.
MODULE_ENV = "CCAPKI_PKCS11_MODULE"

#: Asked for the user PIN of a token (given a description of the token); returns it.
PinProvider = Callable[[str], str]

_LOCK = threading.RLock()
_LIBS: dict[str, Any] = {}
#: (module, token serial) -> the logged-in session
_SESSIONS: dict[tuple[str, bytes], Any] = {}

_FIND_HINT = (
    "list the tokens with `softhsm2-util --show-slots` (SoftHSM2) or `p11tool "
    "--list-tokens`, plug the token in, and check token= in the URI"
)


def env_pin(token: str) -> str:
    """The user PIN from ``CCAPKI_PKCS11_PIN``. Raises :class:`TokenError` when unset or
    empty (a CLI in a terminal asks instead)."""
    pin = os.environ.get(PIN_ENV)
    if pin == "":
        raise TokenError(
            f"{PIN_ENV} is set but empty: the PKCS#11 token {token} needs its user PIN",
            f"set {PIN_ENV} to the token's user PIN, or unset it to be asked in a terminal "
            "(the PIN is never stored)",
        )
    if not pin:
        raise TokenError(
            f"the PKCS#11 token {token} needs its user PIN and none was given",
            f"set {PIN_ENV} to the token's user PIN, or run the command in a terminal to "
            "be asked (the PIN is never stored)",
        )
    return pin


def module_for(uri: Pkcs11Uri, configured: str | None = None) -> str:
    """The PKCS#11 module to load: ``CCAPKI_PKCS11_MODULE`` when set (this machine's),
    else the URI's ``module-path``, else ``configured`` (the deployment file's
    ``[ca] pkcs11_module``, or what the store recorded). Raises :class:`TokenError` when
    none names one."""
    found = os.environ.get(MODULE_ENV) or uri.module_path or configured
    if not found:
        raise TokenError(
            f"no PKCS#11 module is named for {uri.label}",
            f"set {MODULE_ENV} (e.g. /usr/lib/softhsm/libsofthsm2.so for SoftHSM2), or "
            'pkcs11_module = "..." under [ca] in the deployment file',
        )
    return found


def load_module(path: str) -> Any:
    """The loaded, initialized PKCS#11 module at ``path`` (once per process). Raises
    :class:`TokenError` when the file is not there or does not load as a PKCS#11 module."""
    with _LOCK:
        if path in _LIBS:
            lib = _LIBS[path]
            if not lib.initialized:
                lib.initialize()
            return lib
        if Path(path).is_dir():
            raise TokenError(
                f"the PKCS#11 module {path} is a folder, not a library",
                f"set {MODULE_ENV} to the library file in it (a .so, e.g. "
                "/usr/lib/softhsm/libsofthsm2.so)",
            )
        if not Path(path).is_file():
            raise TokenError(
                f"the PKCS#11 module {path} does not exist",
                "install the HSM's PKCS#11 library (SoftHSM2: `apt-get install softhsm2`, "
                f"/usr/lib/softhsm/libsofthsm2.so) and set {MODULE_ENV} to its path",
            )
        import pkcs11

        try:
            lib = pkcs11.lib(path)
        except (pkcs11.PKCS11Error, OSError) as exc:
            raise TokenError(
                f"the PKCS#11 module {path} does not load ({_why(exc)})",
                f"point {MODULE_ENV} at the HSM vendor's PKCS#11 library (a .so file), and "
                "check its own configuration (SoftHSM2: SOFTHSM2_CONF)",
            ) from None
        _LIBS[path] = lib
        return lib


def close_all() -> None:
    """Log out of every token and finalize every module this process loaded (the next
    use loads them again: a test's new SoftHSM2 configuration is read then)."""
    with _LOCK:
        for session in _SESSIONS.values():
            with contextlib.suppress(Exception):  # the token went away: nothing to close
                session.close()
        _SESSIONS.clear()
        for lib in _LIBS.values():
            with contextlib.suppress(Exception):  # already finalized
                lib.finalize()
        _LIBS.clear()


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _find_token(lib: Any, uri: Pkcs11Uri, module: str) -> Any:
    import pkcs11

    found = []
    try:
        slots = lib.get_slots(token_present=True)
    except pkcs11.PKCS11Error as exc:
        raise TokenError(
            f"the PKCS#11 module {module} cannot list its slots ({_why(exc)})",
            _FIND_HINT,
        ) from None
    for slot in slots:
        if uri.slot_id is not None and slot.slot_id != uri.slot_id:
            continue
        try:
            token = slot.get_token()
        except (pkcs11.TokenNotPresent, pkcs11.TokenNotRecognised):
            continue
        if uri.token is not None and token.label != uri.token:
            continue
        if uri.serial is not None and token.serial.decode("ascii", "replace") != uri.serial:
            continue
        if uri.manufacturer is not None and token.manufacturer_id != uri.manufacturer:
            continue
        if uri.model is not None and token.model != uri.model:
            continue
        found.append(token)
    if not found:
        raise TokenError(
            f"no PKCS#11 token matches {uri} in {module} ({_present(slots)})",
            f"{_FIND_HINT}; a CA key's token re-initialised under another label or serial: "
            "`ccapki ca set-token CA --pkcs11-uri URI` records where it is now",
        )
    if len(found) > 1:
        raise TokenError(
            f"{len(found)} PKCS#11 tokens match {uri} in {module}",
            "name one: add serial=... to the URI (`softhsm2-util --show-slots` shows them)",
        )
    return found[0]


def _present(slots: Any) -> str:
    """The initialised tokens in ``slots``, for a message: label, serial and slot."""
    import pkcs11
    from pkcs11 import TokenFlag

    seen = []
    for slot in slots:
        try:
            token = slot.get_token()
        except pkcs11.PKCS11Error:
            continue
        if not token.flags & TokenFlag.TOKEN_INITIALIZED:
            continue
        serial = bytes(token.serial).decode("ascii", "replace").strip()
        seen.append(f"token={token.label} (serial={serial}, slot-id={slot.slot_id})")
    return "tokens there: " + ", ".join(seen) if seen else "it has no initialised token"


def _login(token: Any, module: str, pin: PinProvider) -> Any:
    """The token's one session of this process, logged in: read-write (a key may be
    generated), read-only on a write-protected token. Keys opened from it stay valid."""
    import pkcs11
    from pkcs11 import TokenFlag

    serial = bytes(token.serial)
    key = (module, serial)
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
    name = token.label
    if token.flags & TokenFlag.USER_PIN_LOCKED:
        raise _locked(name)
    if not token.flags & TokenFlag.USER_PIN_INITIALIZED:
        raise TokenError(
            f"the PKCS#11 token {name} has no user PIN set",
            "set it with the security officer PIN (SoftHSM2: `softhsm2-util --init-token` "
            "sets both; an HSM: its admin tool)",
        )
    secret = pin(name)
    rw = not token.flags & TokenFlag.WRITE_PROTECTED
    try:
        session = token.open(rw=rw, user_pin=secret)
    except pkcs11.PinLocked:
        raise _locked(name) from None
    except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange):
        tries = ""
        if token.flags & TokenFlag.USER_PIN_FINAL_TRY:
            tries = " (one more wrong PIN locks it)"
        raise TokenError(
            f"wrong user PIN for the PKCS#11 token {name}{tries}",
            f"set {PIN_ENV} to the token's user PIN (not the security officer PIN)",
        ) from None
    except pkcs11.PinExpired:
        raise TokenError(
            f"the user PIN of the PKCS#11 token {name} has expired",
            "set a new user PIN with the token's own tool, then run the command again",
        ) from None
    except (pkcs11.TokenNotPresent, pkcs11.DeviceRemoved, pkcs11.DeviceError) as exc:
        raise TokenError(
            f"the PKCS#11 token {name} went away while logging in ({_why(exc)})", _FIND_HINT
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise TokenError(
            f"cannot log in to the PKCS#11 token {name} ({_why(exc)})",
            "check the token with its own tool; then run the command again",
        ) from None
    finally:
        del secret
    with _LOCK:
        _SESSIONS[key] = session
    return session


def _forget(session: Any) -> None:
    """Drop a session that stopped working (the token was removed) from the cache."""
    with _LOCK:
        for key, held in list(_SESSIONS.items()):
            if held is session:
                del _SESSIONS[key]


def _locked(name: str) -> TokenError:
    return TokenError(
        f"the user PIN of the PKCS#11 token {name} is locked (too many wrong PINs)",
        "unlock it with the security officer PIN in the token's own tool (an HSM's admin "
        "tool; OpenSC: `pkcs11-tool --module LIB --login --login-type so --init-pin`), then "
        "set CCAPKI_PKCS11_PIN and run the command again; nothing was written",
    )


def _removed(uri: Pkcs11Uri) -> TokenError:
    return TokenError(
        f"the CA key {uri.label} is not in the token (removed, or the URI names another)",
        "put the key back from the token's own backup (a ccapki backup cannot hold a "
        "key in a token), or check object=/id= in the URI (`p11tool --list-all "
        "--login`, `pkcs11-tool --list-objects --login`); a key relabelled: `ccapki ca "
        "set-token CA --pkcs11-uri URI` records where it is now",
    )


def _public_key(session: Any, priv: Any, uri: Pkcs11Uri) -> CertificateIssuerPublicKeyTypes:
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key

    if priv.key_type == KeyType.RSA:
        n = int.from_bytes(priv[Attribute.MODULUS], "big")
        e = int.from_bytes(priv[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if priv.key_type != KeyType.EC:
        raise TokenError(
            f"the CA key {uri.label} is a {priv.key_type.name} key",
            "a CA key in a token must be RSA or ECDSA",
        )
    attrs: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PUBLIC_KEY}
    key_id = priv.id
    if key_id:
        attrs[Attribute.ID] = key_id
    else:
        attrs[Attribute.LABEL] = priv.label
    found = list(session.get_objects(attrs))
    if len(found) != 1:
        raise TokenError(
            f"the token holds the private key {uri.label} but "
            f"{'not its public key' if not found else 'several public keys with its id'}",
            "keep the public key object (same id) beside the private key in the token",
        )
    spki = encode_ec_public_key(found[0])
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def _generate(session: Any, uri: Pkcs11Uri, key_type: KeyType) -> tuple[Any, bytes]:
    """A new key pair in the token: private key sensitive, never extractable."""
    from pkcs11 import Attribute, MechanismFlag
    from pkcs11 import KeyType as P11Type
    from pkcs11.util.ec import encode_named_curve_parameters

    key_id = uri.id if uri.id is not None else os.urandom(8)
    private_template = {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.PRIVATE: True,
        Attribute.TOKEN: True,
    }
    common: dict[str, Any] = {
        "store": True,
        "id": key_id,
        "label": uri.object if uri.object is not None else key_id.hex(),
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "private_template": private_template,
    }
    if key_type.is_rsa:
        bits = int(key_type.value.split("-")[1])
        _, priv = session.generate_keypair(P11Type.RSA, bits, **common)
    else:
        curve = {KeyType.ECDSA_P256: "secp256r1", KeyType.ECDSA_P384: "secp384r1"}[key_type]
        params = session.create_domain_parameters(
            P11Type.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
        )
        _, priv = params.generate_keypair(**common)
    return priv, key_id


_RSA_MECHANISMS = {
    "sha256": "SHA256_RSA_PKCS",
    "sha384": "SHA384_RSA_PKCS",
    "sha512": "SHA512_RSA_PKCS",
}


class TokenKey(ExternalKey):
    """A CA's private key in a PKCS#11 token, logged in and ready to sign.

    ``uri`` names it exactly (token, object, id; no PIN, no module); ``module`` is the
    library it was reached through; ``key_type`` as :func:`~ccapki.pki.keys.key_type_name`
    spells it; ``generated``: True when :func:`open_token_key` made it in the token just
    now (False: the token held it already)."""

    def __init__(
        self,
        uri: Pkcs11Uri,
        module: str,
        session: Any,
        private: Any,
        public: CertificateIssuerPublicKeyTypes,
    ) -> None:
        self.uri = uri
        self.module = module
        self._session = session
        self._private = private
        self._public = public
        self.key_type = key_type_name(public)
        self.generated = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenKey {self.uri} {self.key_type}>"

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        """The public half, as the token holds it."""
        return self._public

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """Sign ``data`` in the token (see the module). Raises :class:`TokenError` when the
        token or the key went away, or the token refuses."""
        import pkcs11
        from pkcs11 import Mechanism

        try:
            with self._lock:
                if isinstance(self._public, rsa.RSAPublicKey):
                    mech = getattr(Mechanism, _RSA_MECHANISMS[algorithm.name])
                    return bytes(self._private.sign(data, mechanism=mech))
                h = hashes.Hash(algorithm)
                h.update(data)
                raw = bytes(self._private.sign(h.finalize(), mechanism=Mechanism.ECDSA))
        except (
            pkcs11.ObjectHandleInvalid,
            pkcs11.KeyHandleInvalid,
            pkcs11.NoSuchKey,
        ):
            raise _removed(self.uri) from None
        except (
            pkcs11.TokenNotPresent,
            pkcs11.DeviceRemoved,
            pkcs11.SessionHandleInvalid,
            pkcs11.SessionClosed,
        ) as exc:
            _forget(self._session)  # the next command (or service request) logs in again
            raise TokenError(
                f"the PKCS#11 token holding {self.uri.label} went away ({_why(exc)}); "
                "nothing was written",
                f"plug the token in and run the command again; {_FIND_HINT}",
            ) from None
        except pkcs11.PKCS11Error as exc:
            raise TokenError(
                f"the PKCS#11 token refused to sign with {self.uri.label} ({_why(exc)})",
                "check that the key may sign (CKA_SIGN) and the token supports "
                "CKM_ECDSA / CKM_SHA256_RSA_PKCS; nothing was written",
            ) from None
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )


def reach_token(uri: Pkcs11Uri, *, module: str | None = None) -> str:
    """Check, without logging in, that the module loads and the token ``uri`` names is
    present; returns the token's label. Raises :class:`TokenError` otherwise."""
    path = module_for(uri, module)
    return str(_find_token(load_module(path), uri, path).label)


def login(uri: Pkcs11Uri, *, module: str | None = None, pin: PinProvider = env_pin) -> str:
    """Log in to the token ``uri`` names (once per token and process), without looking
    for its key: a command that will generate keys in tokens checks every token first.
    Returns the token's label. Raises :class:`TokenError` as :func:`open_token_key`."""
    path = module_for(uri, module)
    token = _find_token(load_module(path), uri, path)
    _login(token, path, pin)
    return str(token.label)


def open_token_key(
    uri: Pkcs11Uri,
    *,
    module: str | None = None,
    pin: PinProvider = env_pin,
    create: KeyType | None = None,
    exact_module: bool = False,
) -> TokenKey:
    """The key ``uri`` names, logged in (``pin`` is asked once per token and process).

    ``module``: the configured module (see :func:`module_for`; with ``exact_module`` and a
    ``module``, that one, before ``CCAPKI_PKCS11_MODULE``: what the user named just now).
    With ``create``, a key
    the token does not hold yet is generated there, of that type, sensitive and not
    extractable (a key it holds is used as it is). The :class:`TokenKey`'s ``uri`` names
    the object's id too. Raises :class:`TokenError` naming the fix for every failure.
    """
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    path = module if exact_module and module else module_for(uri, module)
    lib = load_module(path)
    token = _find_token(lib, uri, path)
    session = _login(token, path, pin)
    attrs: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if uri.object is not None:
        attrs[Attribute.LABEL] = uri.object
    if uri.id is not None:
        attrs[Attribute.ID] = uri.id
    generated = False
    try:
        found = list(session.get_objects(attrs))
        if not found and create is not None:
            priv, _ = _generate(session, uri, create)
            found = [priv]
            generated = True
    except (pkcs11.SessionHandleInvalid, pkcs11.SessionClosed, pkcs11.DeviceRemoved) as exc:
        with _LOCK:
            _SESSIONS.pop((path, bytes(token.serial)), None)
        raise TokenError(
            f"the PKCS#11 token {token.label} went away ({_why(exc)}); nothing was written",
            _FIND_HINT,
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise TokenError(
            f"the PKCS#11 token {token.label} refused the key operation ({_why(exc)})",
            "check the token with its own tool (free space, the mechanisms it supports)",
        ) from None
    if not found:
        raise _removed(uri)
    if len(found) > 1:
        raise TokenError(
            f"{len(found)} private keys match {uri} in the token",
            "name one: add id=%XX... to the URI",
        )
    priv = found[0]
    public = _public_key(session, priv, uri)
    # what the store records: the URI as given (no module), naming the object's id too
    exact = replace(uri.without_module(), object=priv.label or uri.object, id=priv.id or uri.id)
    if exact.slot_id is not None:
        # a slot number changes when tokens are added or re-initialised: the store names
        # the token by what stays (its label and serial number)
        serial = bytes(token.serial).decode("ascii", "replace").strip()
        exact = replace(exact, slot_id=None, token=token.label, serial=serial)
    key = TokenKey(exact, path, session, priv, public)
    key.generated = generated
    return key
