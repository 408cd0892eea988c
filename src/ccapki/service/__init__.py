"""The ccapki service: ``ccapki serve`` (a FastAPI application over :mod:`ccapki.api`).

Modules: :mod:`.config` (:class:`ServiceConfig`), :mod:`.app` (:func:`create_app`),
:mod:`.auth` (users, sessions, tokens, roles, CSRF, security headers), :mod:`.problems`
(RFC 9457 problem details), :mod:`.api` (the JSON routes under ``/api/v1``), :mod:`.web`
(the dashboard) and :mod:`.jobs` (background jobs). Importing this package imports no web
framework; the modules do.
"""

from __future__ import annotations

__all__: list[str] = []
