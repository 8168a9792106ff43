"""The module table of docs/architecture.md, made from the code: every module of the SDK and the
server with the first sentence of its docstring.

``python -m tests.architecture`` rewrites the table in place (between its two marker comments);
`tests/server/test_architecture_doc.py` fails when the table in the file is not the one the code
gives today.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- module table: python -m tests.architecture -->"
END = "<!-- end of module table -->"

#: The packages listed, and where their sources are.
PACKAGES = {"queue_services": ROOT / "sdk", "queue_services_server": ROOT / "server"}


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    return paragraph.replace("|", "\\|")


def _modules(package: str, source: Path) -> list[tuple[str, str]]:
    rows = []
    for path in sorted((source / package).rglob("*.py")):
        relative = path.relative_to(source / package)
        if path.name == "__init__.py":
            name = "/".join(relative.parts[:-1]) + "/" if relative.parts[:-1] else "__init__.py"
        else:
            name = relative.as_posix()
        rows.append((name, _summary(path)))
    return rows


def _scripts() -> list[tuple[str, str]]:
    rows = []
    folder = PACKAGES["queue_services_server"] / "queue_services_server" / "store" / "scripts"
    for path in sorted(folder.glob("*.lua")):
        # The opening comment's first paragraph: "-- name.lua: what it does ..." up to "--".
        words: list[str] = []
        for line in path.read_text().splitlines():
            text = line.removeprefix("--").strip()
            if not line.startswith("--") or not text:
                break
            words += text.split()
        summary = " ".join(words).split(": ", 1)[-1]
        rows.append((f"store/scripts/{path.name}", summary[:1].upper() + summary[1:]))
    return rows


def table() -> str:
    """The module table as Markdown, between its markers."""
    lines = [BEGIN]
    for package, source in PACKAGES.items():
        rows = _modules(package, source)
        if package == "queue_services_server":
            rows += _scripts()
        lines += ["", f"**`{package}`**", "", "| module | what it holds |", "| --- | --- |"]
        lines += [f"| `{name}` | {summary} |" for name, summary in rows]
    lines += ["", END]
    return "\n".join(lines)


def current() -> str:
    """The table as docs/architecture.md has it now."""
    text = DOC.read_text()
    match = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), text, re.S)
    return match.group(0) if match else ""


def main() -> int:
    """Rewrite the table in docs/architecture.md."""
    text = DOC.read_text()
    if BEGIN not in text:
        print(f"{DOC}: no '{BEGIN}' marker to put the table after", file=sys.stderr)
        return 1
    DOC.write_text(text.replace(current(), table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
