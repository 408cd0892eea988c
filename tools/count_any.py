"""Count ``Any`` in the function signatures of src/ccapki (issue 9's seam measure).

python tools/count_any.py            # total, then the files with most
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ccapki"


def count(path: Path) -> int:
    n = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            anns = [a.annotation for a in args if a.annotation is not None]
            if node.returns is not None:
                anns.append(node.returns)
            n += sum(ast.unparse(a).count("Any") for a in anns)
    return n


def main() -> int:
    per = {p.relative_to(SRC.parent): count(p) for p in sorted(SRC.rglob("*.py"))}
    print(f"Any in signatures: {sum(per.values())}")
    for path, n in sorted(per.items(), key=lambda kv: -kv[1])[:10]:
        if n:
            print(f"  {n:3d}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
