"""Benchmark: ACME orders per second against Debian's pebble, issue 14.

pebble (``PEBBLE_VA_NOSLEEP=1``, its HTTPS certificate minted for the run) validates DNS-01
against pebble-challtestsrv; the TXT records are set by the tests' hook command (a process
per record, over challtestsrv's management API), for both sides.

What is timed (N identities, default 100, ``--concurrency`` orders at once, default 8):

1. **ccapki**: :func:`ccapki.lifecycle.acme.order_identities` on a fresh key-file store
   (the deployment applied beforehand, the ACME account registered in a warm-up): keys
   made and sealed pending, order rows, the orders on a thread pool, each certificate
   stored as the identity's current version as it arrives.
2. **raw acme**: the same orders with the ``acme`` library alone on the same pool: a key,
   a CSR, ``new_order``, the same hook for each TXT record, ``answer_challenge``,
   ``poll_authorizations``, ``finalize_order``; no store.

Printed: orders/s of each and the ratio ccapki / raw (1.0: ccapki costs nothing over the
library; the CA's own work dominates both).

    .venv/bin/python benchmarks/bench_acme.py [-n 100] [--concurrency 8] [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "acme"), str(ROOT / "tests")]

from acme import challenges, client, messages  # noqa: E402
from acme_servers import ChallTestSrv, Pebble, hook_script  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from ccapki.lifecycle.acme import _csr, _jwk, order_identities  # noqa: E402
from ccapki.lifecycle.apply import apply_plan  # noqa: E402
from ccapki.store import Store  # noqa: E402
from ccapki.topology.loader import parse_deployment  # noqa: E402


def deployment_text(n: int, pebble: Pebble, hook: Path) -> str:
    lines = [
        '[deployment]\nname = "bench"\nrelease = "4.8.0"\nsource = "acme"\n',
        '[cam]\nname = "cam"\nhostname = "cam.bench.example.org"\nip = "10.0.0.1"\n',
    ]
    for i in range(n - 1):
        lines.append(
            f'[[cas]]\nname = "cas{i}"\nhostname = "cas{i}.bench.example.org"\n'
            f'ip = "10.{1 + i // 250}.{i % 250}.1"\n'
        )
    lines.append(
        f'[acme]\ndirectory = "{pebble.directory}"\nemail = "pki@example.org"\n'
        f'ca_bundle = "{pebble.bundle}"\ndns = "hook"\nhook = ["{hook}"]\n'
        "propagation_timeout = 60\n"
    )
    return "\n".join(lines)


def raw_orders(pebble: Pebble, hook: Path, names: list[str], concurrency: int) -> float:
    """Seconds for the orders of ``names`` with the acme library alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk, alg = _jwk(key)

    def new_client() -> client.ClientV2:
        net = client.ClientNetwork(jwk, alg=alg, verify_ssl=str(pebble.bundle))  # type: ignore[arg-type]
        return client.ClientV2(client.ClientV2.get_directory(pebble.directory, net), net)

    c0 = new_client()
    regr = c0.new_account(
        messages.NewRegistration.from_data(email="raw@example.org", terms_of_service_agreed=True)
    )

    def one(name: str) -> None:
        c = new_client()
        c.net.account = regr
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        csr = _csr(leaf_key, [name]).public_bytes(serialization.Encoding.PEM)
        order = c.new_order(csr)
        published = []
        for authz in order.authorizations:
            chall = next(x for x in authz.body.challenges if isinstance(x.chall, challenges.DNS01))
            response, validation = chall.response_and_validation(jwk)
            record = chall.chall.validation_domain_name(authz.body.identifier.value)
            subprocess.run(
                [str(hook), "add", record, validation],
                check=True,
                env=_env(record, validation, "add"),
            )
            published.append((record, validation))
            c.answer_challenge(chall, response)
        deadline = dt.datetime.now() + dt.timedelta(seconds=60)
        order = c.poll_authorizations(order, deadline)
        c.finalize_order(order, deadline)
        for record, validation in published:
            subprocess.run(
                [str(hook), "remove", record, validation],
                check=True,
                env=_env(record, validation, "remove"),
            )

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        for fut in [pool.submit(one, n) for n in names]:
            fut.result()
    return time.perf_counter() - start


def _env(record: str, value: str, action: str) -> dict[str, str]:
    return {
        **os.environ,
        "CCAPKI_ACME_ACTION": action,
        "CCAPKI_ACME_RECORD": record,
        "CCAPKI_ACME_VALUE": value,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="20 identities")
    args = ap.parse_args()
    n = 20 if args.quick else args.n
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        srv = ChallTestSrv(folder).start()
        pebble = Pebble(folder, f"127.0.0.1:{srv.dns_port}").start()
        try:
            os.environ["CHALLTESTSRV"] = srv.management
            hook = hook_script(folder)
            dep = parse_deployment(deployment_text(n, pebble, hook))
            now = dt.datetime.now(dt.UTC)
            Store.init(folder / "store", key_file=True).close()
            with Store.open(folder / "store") as store:
                store.use(dep.name, new=True)
                apply_plan(store, dep, now)
                # warm-up (outside the timed region): the account, one order
                order_identities(store, dep, ["cam"], concurrency=1)
                names = [i.name for i in dep.identities if i.name != "cam"]
                start = time.perf_counter()
                outcomes = order_identities(store, dep, names, concurrency=args.concurrency)
                ours = time.perf_counter() - start
                failed = [o for o in outcomes if not o.ok]
                if failed:
                    print(f"{len(failed)} orders failed: {failed[0].error}")
                    return 1
            raw = raw_orders(
                pebble,
                hook,
                [f"raw{i}.bench.example.org" for i in range(len(names))],
                args.concurrency,
            )
        finally:
            pebble.stop()
            srv.stop()
    k = len(names)
    print(f"ACME orders against pebble, {k} identities, concurrency {args.concurrency}")
    print(f"  ccapki order_identities: {k / ours:8.2f} orders/s ({ours:.2f} s)")
    print(f"  raw acme library:        {k / raw:8.2f} orders/s ({raw:.2f} s)")
    print(f"  ccapki / raw:            {raw / ours:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
