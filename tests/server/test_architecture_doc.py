"""docs/architecture.md's module table is the one the code gives (every module, its docstring)."""

from __future__ import annotations

from tests import architecture


def test_the_module_table_lists_every_module_as_its_docstring_says() -> None:
    assert architecture.current() == architecture.table(), (
        "docs/architecture.md's module table is out of date: run python -m tests.architecture"
    )
