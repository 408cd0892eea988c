"""Mutated certificate, key and bundle files through the real CLI: no crash, no exit 70.

    python tools/fuzz_cli.py -n 2000 --seed 1

Seeds are valid files minted now (PEM bundle, DER certificate, PKCS#7 DER and PEM, PKCS#12
modern and legacy, encrypted PKCS#8 and traditional keys, DER key, CSR). Each mutation
(truncate, flip bits, splice two seeds, insert or delete bytes) is written to a file and run
in process through ``inspect FILE``, ``inspect FILE --password pw``, ``import FILE`` and
``import FILE --password pw`` on a store holding the FAQ deployment. Prints the inputs tried,
the exit codes seen, and every run that exited 70 or printed a traceback (goal: none).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import random
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

ROOT = Path(__file__).resolve().parent.parent
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def seeds(home: Path) -> list[tuple[str, bytes]]:
    """Valid files of every format, exported from a store the CLI just filled."""
    from ccapki.api import open_store
    from ccapki.pki import export

    with open_store(home, os.environ["CCAPKI_PASSPHRASE"]) as store:
        ident = store.identities.get("cas-clinic")
        assert ident is not None
        key = store.keys.private_key(ident.spki)
    leaf, chain = ident.certificate, ident.chain
    no = serialization.NoEncryption()
    enc = serialization.BestAvailableEncryption(b"pw")
    return [
        (
            "bundle.pem",
            b"".join(c.public_bytes(PEM) for c in (leaf, *chain))
            + key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, no),
        ),
        ("leaf.cer", leaf.public_bytes(DER)),
        ("chain.p7b", pkcs7.serialize_certificates([leaf, *chain], DER)),
        ("chain.p7c", pkcs7.serialize_certificates([leaf, *chain], PEM)),
        ("id.p12", export.pkcs12("id", leaf, key, chain, b"pw", kdf_rounds=64)),
        ("old.pfx", export.pkcs12("id", leaf, key, (), b"pw", legacy=True, kdf_rounds=64)),
        ("enc.key", key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, enc)),
        ("trad.key", key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc)),
        ("k.der", key.private_bytes(DER, serialization.PrivateFormat.PKCS8, no)),
    ]


def mutate(rng: random.Random, pool: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    name, data = rng.choice(pool)
    buf = bytearray(data)
    op = rng.randrange(5)
    if op == 0 and buf:  # truncate
        del buf[rng.randrange(len(buf)) :]
    elif op == 1:  # flip bits
        for _ in range(rng.randint(1, 8)):
            if buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif op == 2:  # splice two seeds
        _, other = rng.choice(pool)
        cut = rng.randrange(len(buf) + 1)
        buf = buf[:cut] + bytearray(other[rng.randrange(len(other) + 1) :])
    elif op == 3:  # insert random bytes
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = rng.randbytes(rng.randint(1, 16))
    elif buf:  # delete a run
        at = rng.randrange(len(buf))
        del buf[at : at + rng.randint(1, 32)]
    return name, bytes(buf)


def run_cli(argv: list[str]) -> tuple[int, str]:
    from ccapki.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except BaseException as exc:  # anything escaping the boundary is a crash
            return -1, f"{type(exc).__name__}: {exc}"
    return code, err.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="mutated files")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        for k in [k for k in os.environ if k.startswith("CCAPKI_")]:
            del os.environ[k]
        os.environ["CCAPKI_HOME"] = str(home)
        os.environ["CCAPKI_PASSPHRASE"] = "fuzz-passphrase"  # noqa: S105 (a throwaway store)
        for cmd in (["init"], ["apply", str(ROOT / "examples" / "faq.toml")]):
            code, err = run_cli(cmd)
            if code != 0:
                sys.exit(f"setup {cmd} failed: {err}")
        pool = seeds(home)
        codes: collections.Counter[int] = collections.Counter()
        bad: list[str] = []
        runs = 0
        for i in range(args.n):
            name, data = mutate(rng, pool)
            path = Path(tmp) / f"m{i}-{name}"
            path.write_bytes(data)
            for cmd in (
                ["inspect", str(path)],
                ["inspect", str(path), "--password", "pw"],
                ["import", str(path)],
                ["import", str(path), "--password", "pw"],
            ):
                code, err = run_cli(cmd)
                runs += 1
                codes[code] += 1
                if code in (-1, 70) or "Traceback" in err:
                    bad.append(f"{' '.join(cmd[:1])} {name} (mutation {i}): {code} {err[:200]}")
            path.unlink()
    print(f"mutated files: {args.n}; CLI runs: {runs}")
    print("exit codes: " + ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())))
    print(f"crashes or exit 70: {len(bad)}")
    for line in bad[:20]:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
