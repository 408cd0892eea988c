"""Third-party certificates: make the CSRs, then import what the CA sent back.

    CCAPKI_PASSPHRASE=... python import_returned.py csr campus.toml STORE_DIR csrs/
    (send csrs/*.csr to the CA; put its answers, certificates and chain, in returned/)
    CCAPKI_PASSPHRASE=... python import_returned.py import campus.toml STORE_DIR returned/

Each CSR's private key stays sealed in the store (pending) until its certificate comes
back. The import is all or nothing: one file that does not fit refuses the whole folder.
"""

import os
import sys
from pathlib import Path

import ccapki


def make_csrs(store: ccapki.Store, dep: ccapki.Deployment, folder: Path) -> None:
    # each file takes its name once the store keeps its key; a CSR a killed run kept
    # but never wrote is written again (the same CSR and key), not made anew
    for result in ccapki.make_csrs(store, dep, out=folder):
        again = ", made earlier: no new key" if result.again else ""
        print(f"wrote {result.path} (key {result.spki[:16]} pending{again})")


def import_folder(store: ccapki.Store, dep: ccapki.Deployment, folder: Path) -> None:
    skipped: list[tuple[str, str]] = []  # a README or an image in the folder: left out
    result = ccapki.import_files(store, dep, [folder], skipped=skipped)
    for path, reason in skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    for imported in result.identities:
        cert = imported.certificate
        print(
            f"imported {imported.identity}: {cert.subject.rfc4514_string()}, "
            f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    for held in result.held:
        print(f"already held: {held.describe()}")
    for ca in result.cas:
        print(f"kept CA {ca}")


def main(step: str, deployment_file: str, home: str, folder: str) -> int:
    dep = ccapki.load_deployment(deployment_file)
    with ccapki.open_store(home, os.environ["CCAPKI_PASSPHRASE"]) as store:
        if step == "csr":
            make_csrs(store, dep, Path(folder))
        else:
            import_folder(store, dep, Path(folder))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(*sys.argv[1:]))
    except ccapki.CcapkiError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
