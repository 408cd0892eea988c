"""A real ``ccapki apply`` says why it reissued or renewed each identity, in the words its
``--dry-run`` says it ("would reissue cas1: key type is not rsa-2048" then "reissued cas1
v2 (...) in STORE; reason: key type is not rsa-2048").

Found in a walkthrough: only ``--dry-run`` gave the reason; the apply that did the work
printed the new version and expiry, and nothing of why.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from kit.certs import NOW
from kit.cli import Cli, deployment, ok, standalone, write


def _reasons(out: str, pattern: str) -> dict[str, str]:
    return {m["name"]: m["why"] for m in re.finditer(pattern, out, re.M)}


def test_real_apply_says_the_reason_of_a_reissue_and_a_renewal(
    cli: Cli, keyfile_store: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "d.toml", deployment(cas=[standalone("cas1", "10.1.0.1")]))
    r = ok(cli("apply", str(path)))
    assert "reason:" not in r.out, r.out  # a first issue: "issued ... v1" says it all
    write(path, deployment(cas=[standalone("cas1", "10.1.0.1", key="rsa-2048")]))
    dry = _reasons(
        ok(cli("apply", str(path), "--dry-run")).out, r"^would reissue (?P<name>\S+): (?P<why>.+)$"
    )
    assert list(dry) == ["cas1"], dry
    assert "key type" in dry["cas1"], dry
    done = ok(cli("apply", str(path))).out
    assert (
        _reasons(done, r"^reissued (?P<name>\S+) v2 \(expires .*?\) in .*; reason: (?P<why>.+)$")
        == dry
    ), done
    # a year on, both are inside their renewal window
    later = NOW + dt.timedelta(days=380)
    dry = _reasons(
        ok(cli("apply", str(path), "--dry-run", now=later)).out,
        r"^would renew (?P<name>\S+): (?P<why>.+)$",
    )
    assert set(dry) == {"cam", "cas1"}, dry
    assert dry["cam"].startswith("expires in"), dry
    done = ok(cli("apply", str(path), now=later)).out
    assert (
        _reasons(done, r"^renewed (?P<name>\S+) v\d \(expires .*?\) in .*; reason: (?P<why>.+)$")
        == dry
    ), done
