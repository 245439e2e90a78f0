"""The README's layout table names every module: each top-level .py file, and each module of the lmm package
in the row of its directory."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_rows() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| Path | Job |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_every_top_level_module_is_in_the_layout_table():
    table = "\n".join(_layout_rows())
    missing = [p.name for p in sorted(ROOT.glob("*.py")) if f"`{p.name}`" not in table and p.name not in table]
    assert missing == []


def test_every_lmm_module_is_in_its_directory_row():
    rows = _layout_rows()
    missing = []
    for path in sorted((ROOT / "lmm").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        directory = path.parent.relative_to(ROOT).as_posix() + "/"
        row = next((r for r in rows if r.startswith(f"| `{directory}`")), "")
        if f"`{path.name}`" not in row:
            missing.append(path.relative_to(ROOT).as_posix())
    assert missing == []
