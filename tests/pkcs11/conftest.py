"""The SoftHSM2 fixture (``softhsm``) of this folder: see pkcs11_softhsm.py.

This folder has no ``__init__.py`` on purpose: as a package it would be importable as
``pkcs11`` and hide python-pkcs11 itself.
"""

from __future__ import annotations

from pkcs11_softhsm import softhsm

__all__ = ["softhsm"]
