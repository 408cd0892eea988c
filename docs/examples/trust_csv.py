"""The trust matrix as CSV: one row per appliance, one column per channel.

    CCAPKI_PASSPHRASE=... python trust_csv.py campus.toml STORE_DIR > trust.csv

A cell is ``pass``, ``WARN`` (passes, but a certificate it needs is due for renewal),
``FAIL`` or ``n/a``. Exit 0 when every cell passes, 1 otherwise.
"""

import csv
import os
import sys

import ccapki


def main(deployment_file: str, home: str) -> int:
    dep = ccapki.load_deployment(deployment_file)
    with ccapki.open_store(home, os.environ["CCAPKI_PASSPHRASE"]) as store:
        matrix = ccapki.check_trust(store, dep)

    channels = list(ccapki.Channel)
    verdict = {(c.appliance, c.channel): c for c in matrix.cells}
    out = csv.writer(sys.stdout)
    out.writerow(["appliance", *(ch.value for ch in channels)])
    for appliance in dep.appliances:
        row = [appliance.name]
        for ch in channels:
            cell = verdict.get((appliance.name, ch))
            if cell is None or cell.ok is None:
                row.append("n/a")
            elif not cell.ok:
                row.append("FAIL")
            else:
                row.append("WARN" if cell.warnings else "pass")
        out.writerow(row)
    return 0 if matrix.clean else 1


if __name__ == "__main__":
    try:
        sys.exit(main(*sys.argv[1:]))
    except ccapki.CcapkiError as exc:
        print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        sys.exit(2)
