"""Helpers shared by command modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccapki.errors import InputError

if TYPE_CHECKING:
    from ccapki.cli.app import Env
    from ccapki.topology.model import Deployment

__all__ = ["load_deployment_arg"]


def load_deployment_arg(env: Env, path: str | None) -> tuple[Deployment, str | None]:
    """The deployment from FILE, else the one the store last applied."""
    from ccapki.topology.loader import load_deployment, parse_deployment

    if path:
        return load_deployment(path), path
    if env.store_exists():
        store = env.open_store()
        try:
            kept = store.deployment_text()
        finally:
            store.close()
        if kept:
            text, kept_path = kept
            return parse_deployment(text, kept_path or "<stored deployment>"), kept_path
    raise InputError(
        "no deployment file given and the store holds none",
        "pass the deployment file, e.g. `ccapki plan examples/faq.toml`",
    )
