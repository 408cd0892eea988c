"""The differential corpus through every real stack here and through ccapki's verdicts.

    python tools/differential.py                          # print agreement per stack
    python tools/differential.py --write docs/stacks.md   # (re)write the table
    python tools/differential.py --stacks openssl-default,gnutls --case sha1-leaf

The cases are minted now (src/ccapki/lab/corpus.py); the stacks (JSSE, OpenSSL default and
strict, GnuTLS, NSS, headless Chromium: each one whose programs are installed; strongSwan's
IKEv2 heartbeat: always, "not available" without root and strongSwan) and the table are in
src/ccapki/lab/differential.py. Exits 1 when a difference not listed in
``KNOWN_DIFFERENCES`` shows up, else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccapki.lab.corpus import build_corpus
from ccapki.lab.differential import (
    KNOWN_DIFFERENCES,
    STACKS,
    available_stacks,
    render_markdown,
    run_corpus,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the Markdown table to this file")
    parser.add_argument("--stacks", help=f"comma-separated, from: {', '.join(STACKS)}")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    stacks = args.stacks.split(",") if args.stacks else available_stacks()
    unknown = [s for s in stacks if s not in STACKS]
    if unknown:
        parser.error(f"unknown stack(s): {', '.join(unknown)}")
    cases = None
    if args.case:
        import datetime as dt

        cases = [c for c in build_corpus(dt.datetime.now(dt.UTC)) if c.name in args.case]
    report = run_corpus(stacks, cases=cases)
    for s in report.stacks:
        ok, n = report.agreement(s)
        missing = report.unavailable(s)
        if missing:
            print(f"{s:16} not available: {missing}")
            continue
        print(f"{s:16} {ok:3}/{n:<3} agree ({100 * ok / max(n, 1):.0f} %)")
    new = [(c.name, s) for c, s in report.differences() if (c.name, s) not in KNOWN_DIFFERENCES]
    for name, s in new:
        r, o = report.real[(name, s)], report.offline[(name, s)]
        print(f"new difference: {name} on {s}: real {r.mark} ({r.detail}), ccapki {o.mark}")
    print(f"{len(report.cases)} cases x {len(report.stacks)} stacks in {report.seconds:.1f} s")
    for s, t in report.stack_seconds.items():
        print(f"  of which {s}: {t:.1f} s")
    if args.write:
        args.write.write_text(render_markdown(report), encoding="utf-8")
        print(f"wrote {args.write}")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
