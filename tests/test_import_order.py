"""Imports run one way: an app imports only apps in lower layers, never `tests`.

Every module of the project is read with `ast` (nothing is imported or run): plain and `from`
imports wherever they stand (inside functions too), relative imports, modules named in strings
(`import_module`, `import_string`), model references by string (`ForeignKey("app.Model")`,
`apps.get_model("app", "Model")`) and the apps that migrations name in `dependencies` and
`run_before`. The README's "Apps and the import order" explains the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom up. An app may import only apps in a strictly lower layer (not its own layer's
# neighbours); `cimar_share` composes the project and may import any app.
LAYERS: dict[str, int] = {
    "audit": 1,
    "notifications": 1,
    "accounts": 2,
    "worklists": 3,
    "studies": 4,
    "dicomweb": 5,
    "links": 6,
    "sharing": 7,
    "guestlinks": 7,
    "uploadlinks": 7,
    "demo": 7,
    "dicomnet": 7,
    "cimar_share": 8,
}
# Top-level code that is no app: the benchmarks, and the DICOM builders and browser settings
# that tests and benchmarks share. They may import apps, never the tests; no app imports them.
TOOLS = ("bench", "testkit")
SKIP_DIRS = {".venv", ".git", "var", "node_modules", "static", "templates", "__pycache__"}

RELATION_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
MODULE_LOADERS = {"import_module", "import_string", "__import__"}


@dataclass(frozen=True)
class Reference:
    path: Path
    line: int
    target: str  # a dotted module name, or "app.Model" for a model reference
    how: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.how} {self.target}"


def package_of(path: Path) -> str:
    """The module's dotted package (for relative imports): accounts/admin.py -> accounts."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if path.name != "__init__.py" else ".".join(parts[:-1])


def resolve_relative(path: Path, module: str | None, level: int) -> str:
    package = package_of(path).split(".")
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, module] if module else base)


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def references(path: Path, source: str) -> Iterator[Reference]:
    tree = ast.parse(source, filename=str(path))
    is_migration = path.parent.name == "migrations"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Reference(path, node.lineno, alias.name, "imports")
        elif isinstance(node, ast.ImportFrom):
            module = resolve_relative(path, node.module, node.level) if node.level else node.module
            if module:
                yield Reference(path, node.lineno, module, "imports from")
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            first = _string(node.args[0]) if node.args else None
            if name in MODULE_LOADERS and first:
                yield Reference(path, node.lineno, first, f"loads with {name}()")
            elif name in RELATION_FIELDS:
                to = first or _string(next((k.value for k in node.keywords if k.arg == "to"), None))
                if to and "." in to:
                    yield Reference(path, node.lineno, to, f"names the model in {name}")
            elif name == "get_model" and first:
                yield Reference(path, node.lineno, first, "names the app in get_model()")
        elif is_migration and isinstance(node, ast.Assign):
            targets = {getattr(target, "id", None) for target in node.targets}
            if targets & {"dependencies", "run_before"} and isinstance(node.value, ast.List):
                for item in node.value.elts:
                    if isinstance(item, ast.Tuple) and item.elts:
                        app = _string(item.elts[0])
                        if app:
                            yield Reference(path, item.lineno, app, "migration depends on")


def python_files(top: Path) -> Iterator[Path]:
    for path in sorted(top.rglob("*.py")):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


def top_level_packages() -> list[str]:
    return sorted(
        child.name
        for child in ROOT.iterdir()
        if child.is_dir() and child.name not in SKIP_DIRS and (child / "__init__.py").exists()
    )


def violations_of(path: Path, owner: str, source: str | None = None) -> Iterator[str]:
    layer = LAYERS.get(owner)
    text = path.read_text(encoding="utf-8") if source is None else source
    for reference in references(path, text):
        target = reference.target.split(".")[0]
        if target == "tests":
            yield f"{reference} (only tests import tests)"
        elif layer is not None and target in TOOLS:
            yield f"{reference} (an app never imports {target})"
        elif layer is not None and target in LAYERS and target != owner:
            if layer < 8 and LAYERS[target] >= layer:
                yield (
                    f"{reference} ({owner} is in layer {layer}, {target} in layer "
                    f"{LAYERS[target]}: an app imports only lower layers)"
                )


def test_every_app_has_a_place_in_the_order() -> None:
    unplaced = [
        name
        for name in top_level_packages()
        if name not in LAYERS and name not in TOOLS and name != "tests"
    ]
    assert not unplaced, f"give these apps a layer in LAYERS (and the README): {unplaced}"


@pytest.mark.parametrize(
    "owner", [name for name in top_level_packages() if name in LAYERS or name in TOOLS]
)
def test_imports_run_one_way(owner: str) -> None:
    found = [
        problem for path in python_files(ROOT / owner) for problem in violations_of(path, owner)
    ]
    assert not found, "imports against the order:\n" + "\n".join(found)


def test_the_walker_sees_every_kind_of_reference() -> None:
    """The walker itself: each kind of reference it promises to read is read."""
    source = (
        "from sharing import models\n"
        "def later():\n"
        "    import guestlinks.access\n"
        "    from sharing.selectors import study_sharing\n"
        "field = models.ForeignKey('sharing.Share', on_delete=None)\n"
        "other = models.OneToOneField(to='guestlinks.GuestLink', on_delete=None)\n"
        "module = import_module('sharing.services')\n"
        "model = apps.get_model('sharing', 'Share')\n"
        "from worklists.models import Worklist\n"  # lower: allowed
        "from .models import Study\n"  # its own app: allowed
    )
    found = list(violations_of(ROOT / "studies" / "probe.py", "studies", source))
    assert len(found) == 7, found
    assert all("studies is in layer 4" in problem for problem in found)
    migration = "dependencies = [('sharing', '0001_initial'), ('worklists', '0001_initial')]\n"
    [problem] = violations_of(ROOT / "studies/migrations/probe.py", "studies", migration)
    assert "migration depends on sharing" in problem
    [problem] = violations_of(ROOT / "bench/probe.py", "bench", "from tests import x\n")
    assert "only tests import tests" in problem
    nested = "from ...models import Study\nfrom ...selectors import study_priors\n"
    command = ROOT / "studies/management/commands/probe.py"
    assert [r.target for r in references(command, nested)] == [
        "studies.models",
        "studies.selectors",
    ]
