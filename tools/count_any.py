"""Count ``Any`` in the function signatures of src/ccapki (issue 9's seam measure).

python tools/count_any.py            # total, at the seams, then the files with most

"At the seams": the signatures of public functions and methods of public classes, in
modules whose name does not start with ``_`` (what another layer or a script calls).
Private helpers that pass database rows around as dicts are counted in the total only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ccapki"


def _anys(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    anns = [a.annotation for a in args if a.annotation is not None]
    if node.returns is not None:
        anns.append(node.returns)
    return sum(ast.unparse(a).count("Any") for a in anns)


def count(path: Path) -> tuple[int, int]:
    """(Any in every signature, Any in public signatures) of one module."""
    total = public = 0
    private_module = path.stem.startswith("_") and path.stem != "__init__"
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(body: list[ast.stmt], exposed: bool) -> None:
        nonlocal total, public
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _anys(node)
                total += n
                name = node.name
                if exposed and (not name.startswith("_") or name == "__init__"):
                    public += n
                walk(node.body, False)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, exposed and not node.name.startswith("_"))
            elif hasattr(node, "body") and isinstance(node.body, list):
                walk(node.body, exposed)

    walk(tree.body, not private_module)
    return total, public


def main() -> int:
    per = {p.relative_to(SRC.parent): count(p) for p in sorted(SRC.rglob("*.py"))}
    print(f"Any in signatures: {sum(t for t, _ in per.values())}")
    print(f"  at the seams (public functions of public modules): {sum(p for _, p in per.values())}")
    for path, (t, p) in sorted(per.items(), key=lambda kv: -kv[1][0])[:10]:
        if t:
            print(f"  {t:3d} ({p} public)  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
