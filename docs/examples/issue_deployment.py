"""Plan and issue a deployment, export each identity's upload bundle, check trust.

    CCAPKI_PASSPHRASE=... python issue_deployment.py campus.toml STORE_DIR BUNDLE_DIR

Creates the store the first time. A second run issues nothing (apply is idempotent) and
exports the same certificates again. Exit 0 when every channel passes, 1 otherwise.
"""

import os
import sys
from pathlib import Path

import ccapki


def main(deployment_file: str, home: str, bundle_dir: str) -> int:
    dep = ccapki.load_deployment(deployment_file)
    plan = ccapki.make_plan(dep)
    print(f"{dep.name}: {plan.certificates_needed} certificates needed")

    passphrase = os.environ["CCAPKI_PASSPHRASE"]
    if ccapki.store_exists(home):
        store = ccapki.open_store(home, passphrase)
    else:
        store = ccapki.init_store(home, passphrase=passphrase)
    with store:
        result = ccapki.apply(store, dep)
        for action in result.actions:
            print(f"{action.identity}: {action.kind.value} ({action.reason})")

        out = Path(bundle_dir)
        out.mkdir(parents=True, exist_ok=True)
        for identity in plan.identities:
            # certificate, chain and private key: the file the appliance's GUI uploads
            data = ccapki.export(store, identity.name, "pem-bundle")
            path = out / f"{identity.name}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            print(f"wrote {path}")

        matrix = ccapki.check_trust(store, dep)
    failed = [f"{c.appliance} {c.channel.value}" for c in matrix.cells if c.ok is False]
    print("trust check: " + ("all pass" if matrix.ok else "FAIL " + ", ".join(failed)))
    return 0 if matrix.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main(*sys.argv[1:]))
    except ccapki.CcapkiError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
