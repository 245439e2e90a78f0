"""The package's layers and the one direction of imports (ARCHITECTURE.md), read from the source (AST): every
import statement counts, including those inside functions."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lmm"
# What a layer may import from the package, besides itself. Arrows point down only.
ALLOWED = {
    "config": set(),
    "model": {"config", "_fast"},
    "book": {"config", "_fast"},
    "core": {"config", "model", "book"},
    "ops": {"config", "core"},
    "venue": {"config", "core", "model", "book", "ops"},
    "daemon": {"config", "core", "model", "book", "ops", "venue"},
}
SANS_IO = {"core", "model", "book"}
IO_MODULES = {"asyncio", "aiohttp", "websockets", "threading", "time", "socket"}
MAX_TOP_LEVEL_MODULES = 16


def imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module:
                yield node.module


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_every_package_module_belongs_to_a_known_layer():
    layers = {path.relative_to(PACKAGE).parts[0] for path in PACKAGE.rglob("*.py") if path.parent != PACKAGE}
    assert layers <= set(ALLOWED)
    assert [p.name for p in PACKAGE.glob("*.py")] == ["__init__.py"]


def test_imports_point_down_only():
    wrong = []
    for layer, allowed in ALLOWED.items():
        for path in modules_of(layer):
            for module in imports(path):
                parts = module.split(".")
                if parts[0] == "lmm" and len(parts) > 1 and parts[1] != layer and parts[1] not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_decisions_do_no_io_and_read_no_clock():
    wrong = [f"{path.relative_to(ROOT)} imports {module}"
             for layer in SANS_IO for path in modules_of(layer) for module in imports(path)
             if module.split(".")[0] in IO_MODULES]
    assert wrong == []


def test_the_package_never_imports_the_top_level_files():
    top_level = {path.stem for path in ROOT.glob("*.py")} | {"_vol_obi_fast"}
    wrong = [f"{path.relative_to(ROOT)} imports {module}" for path in PACKAGE.rglob("*.py")
             for module in imports(path) if module.split(".")[0] in top_level]
    assert wrong == []


def test_the_top_level_holds_the_entry_points_and_named_re_exports_only():
    names = sorted(path.name for path in ROOT.glob("*.py"))
    assert len(names) <= MAX_TOP_LEVEL_MODULES, names
    for name in names:
        lines = (ROOT / name).read_text().splitlines()
        # a re-export holds no code of its own: a docstring and imports (utils.py also its __main__ guard)
        if any(line.startswith("from lmm.") and "import *" in line for line in lines):
            code = [line for line in lines if line and not line.startswith(('"""', "from lmm.", "if __name__",
                                                                              "    raise SystemExit"))]
            assert code == [], f"{name} is a re-export with code of its own: {code}"


def test_the_checks_would_catch_a_wrong_import(tmp_path):
    """The AST walk sees an import inside a function, which is where a shortcut would hide."""
    path = tmp_path / "sneaky.py"
    path.write_text("def f():\n    import time\n    from lmm.daemon.run import run_daemon\n")
    assert list(imports(path)) == ["time", "lmm.daemon.run"]


def test_the_unit_tier_opens_no_socket():
    """tests/unit is what `make test-fast` runs: no simulator, no server, no daemon subprocess."""
    markers = ("start_simulator", "quiet_lighter_sim", "asyncio.server import serve", "aiohttp import web",
               "e2e_support", "exec_support", "ws_support", "TCPSite", "create_server")
    wrong = [f"{path.name}: {marker}" for path in sorted((ROOT / "tests" / "unit").glob("*.py"))
             if path.name != "test_architecture.py" for marker in markers if marker in path.read_text()]
    assert wrong == []
