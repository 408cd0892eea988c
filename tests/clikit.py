"""Shared by the test folders: a CLI run's result, and deployment-file snippets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    """One in-process ``ccapki`` run: exit code, stdout, stderr, and the arguments."""

    code: int
    out: str
    err: str
    args: tuple[str, ...] = ()

    @property
    def both(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


def standalone(name: str, ip: str, **extra: str) -> str:
    """A standalone appliance's TOML body (``[[cas]]`` or ``[cam]`` contents)."""
    lines = [f'name = "{name}"', f'hostname = "{name}.example.org"', f'ip = "{ip}"']
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def ha_pair(name: str, net: str, **extra: str) -> str:
    """An HA pair on ``net`` (e.g. "10.5.0"): Service IP .10, peers .11 and .12."""
    lines = [
        f'name = "{name}"',
        f'virtual_hostname = "{name}.example.org"',
        f'service_ip = "{net}.10"',
        f'primary = {{ name = "{name}-a", hostname = "{name}-a.example.org", ip = "{net}.11" }}',
        f'secondary = {{ name = "{name}-b", hostname = "{name}-b.example.org", ip = "{net}.12" }}',
    ]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"
