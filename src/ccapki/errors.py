"""The one error tree of ccapki.

Every error a user can cause is a :class:`CcapkiError`. Each carries a one-line
``message`` (what went wrong) and a ``hint`` (the exact fix). The CLI prints them as::

    error: <message>
    hint: <hint>

and exits with :attr:`CcapkiError.exit_code` (2 for bad input).

Tree::

    CcapkiError
    ├── InputError              bad input given by the user (exit 2)
    │   ├── DeploymentError     the deployment file is broken (names FILE:LINE)
    │   ├── FileFormatError     a PEM/DER/PKCS#7/PKCS#12/key file is malformed or unexpected
    │   ├── ConflictError       it clashes with what exists (a name taken, the last admin)
    │   └── PasswordError       a wrong passphrase or PKCS#12 password
    ├── StoreError              the store is missing, locked, or inconsistent (exit 2)
    │   └── StoreBusy           another ccapki kept the store's write lock too long
    ├── KeyNotFoundError        "private key not found": a certificate matches no key (exit 2)
    ├── NotFoundError           an identity, appliance or CA does not exist (exit 2)
    ├── NetworkError            a host cannot be reached (exit 2)
    └── TokenError              a PKCS#11 module, token, PIN or key object fails (exit 2)

    Interrupted (a BaseException, like KeyboardInterrupt): SIGINT or SIGTERM stopped the
    command (exit 130 or 143); its ``hint`` says what was kept.
"""

from __future__ import annotations

__all__ = [
    "CcapkiError",
    "ConflictError",
    "DeploymentError",
    "FileFormatError",
    "InputError",
    "Interrupted",
    "KeyNotFoundError",
    "NetworkError",
    "NotFoundError",
    "PasswordError",
    "StoreBusy",
    "StoreError",
    "StoreOutdated",
    "TokenError",
]


class CcapkiError(Exception):
    """Base of every ccapki error: a message and a hint naming the fix."""

    exit_code: int = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(CcapkiError):
    """Bad input given by the user."""


class DeploymentError(InputError):
    """The deployment file is broken; ``message`` starts with ``FILE:LINE:``."""

    def __init__(self, path: str, line: int | None, message: str, hint: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint)
        self.path = path
        self.line = line


class FileFormatError(InputError):
    """A certificate, key or bundle file is malformed or not what was expected."""


class ConflictError(InputError):
    """The input clashes with what exists: a name taken, the last active admin demoted."""


class PasswordError(InputError):
    """A wrong passphrase or password."""


class StoreError(CcapkiError):
    """The store is missing or unusable."""


class StoreBusy(StoreError):
    """Another ccapki held the store's write lock for longer than this command waits."""


class StoreOutdated(StoreError):
    """The store's schema is older than this ccapki's: `ccapki upgrade` it first
    (commands that need no store, such as ``inspect FILE`` and ``plan FILE``, still run).
    ``url`` is the store's database URL (None: the SQLite file in the home folder) and
    ``version`` its schema revision, for a caller to word the exact upgrade command."""

    def __init__(
        self, message: str, hint: str = "", *, url: str | None = None, version: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.url = url
        self.version = version


class KeyNotFoundError(CcapkiError):
    """A certificate matches no known private key (the FAQ's "private key not found")."""


class NotFoundError(CcapkiError):
    """A named identity, appliance or CA does not exist."""


class NetworkError(CcapkiError):
    """A host cannot be reached."""


class TokenError(CcapkiError):
    """A PKCS#11 module cannot be loaded, its token is absent, the PIN is wrong or locked,
    or the CA key object is not (or no longer) in the token."""


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM stopped the command; exit ``128 + signum``.

    A ``BaseException``, so ``except Exception`` cleanup never swallows it; a command that
    knows what an interruption kept sets :attr:`hint`.
    """

    def __init__(self, signum: int, hint: str = "") -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        self.hint = hint
        super().__init__(f"interrupted ({self.name})")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
