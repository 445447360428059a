"""The package's shape, as promises a test can break: a NumPy-only core, no module reaching into another's
private names, no ``assert`` guarding anything, one stated version."""

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import bncourse

PACKAGE = Path(bncourse.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_import_bncourse_loads_numpy_and_nothing_else() -> None:
    code = (
        "import sys; before = set(sys.modules); import bncourse; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bncourse', 'numpy']"


def test_the_core_does_not_import_the_course_helpers() -> None:
    code = "import sys, bncourse; print(sorted(m for m in sys.modules if m.startswith('bncourse.course')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def private_imports(path: Path) -> list[str]:
    """``from bncourse.x import _name`` and ``module._name`` for an imported bncourse module."""
    tree = ast.parse(path.read_text())
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bncourse"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            modules |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("bncourse")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    assert {str(p.relative_to(PACKAGE)): private_imports(p) for p in MODULES if private_imports(p)} == {}


def test_the_private_import_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from bncourse.functional import _hidden\nfrom bncourse import kernel\nkernel._secret()\n")
    assert private_imports(bad) == ["bncourse.functional._hidden", "kernel._secret"]


def test_no_assert_in_the_package() -> None:
    asserts = [
        f"{p.relative_to(PACKAGE)}:{node.lineno}"
        for p in MODULES
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert asserts == []


def test_the_version_is_stated_once() -> None:
    assert importlib.metadata.version("bncourse") == bncourse.__version__
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and bncourse.__version__ not in pyproject
