"""Guards of the code's shape: imports run one way, CallbackData prefixes are unique, models match
the migrations."""

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from aiogram.filters.callback_data import CallbackData
from alembic import command

import handlers
from config import ROOT
from models.database import alembic_config

LAYERS = ("bot", "handlers", "services", "repositories", "models", "processing", "l10n", "config")
# What each layer may import from the others (itself always). A name with a dot allows that module
# only: handlers use the model's enums and types, never its tables; config reads plain facts only.
ALLOWED: dict[str, frozenset[str]] = {
    "bot": frozenset(LAYERS),  # the composition root wires everything
    "handlers": frozenset({"services", "models.enums", "models.types", "config", "l10n"}),
    "services": frozenset({"repositories", "models", "config", "l10n"}),
    "repositories": frozenset({"models"}),
    "processing": frozenset({"services", "models", "config", "l10n"}),
    "models": frozenset({"config"}),
    "config": frozenset({"models.enums", "models.chains"}),
    "l10n": frozenset(),
}


def modules() -> Iterator[tuple[Path, str]]:
    """(file, layer) of every module the table governs."""
    for layer in LAYERS:
        if layer == "config":
            yield ROOT / "config.py", layer
            continue
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "versions" not in path.relative_to(ROOT / layer).parts:  # migrations freeze their own schema
                yield path, layer


def imported(path: Path) -> Iterator[tuple[str, str]]:
    """(absolute module name, the statement as written) of each import in a file."""
    package = path.relative_to(ROOT).parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, f"{node.lineno}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:  # `from models import enums` imports the module models.enums
                module = base if alias.name == "*" else f"{base}.{alias.name}"
                yield module, f"{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}"


def allowed(layer: str, module: str) -> bool:
    target = module.partition(".")[0]
    if target not in LAYERS or target == layer:
        return True  # the standard library, third-party packages, the layer itself
    return any(module == rule or module.startswith(f"{rule}.") for rule in ALLOWED[layer])


def test_imports_run_one_way() -> None:
    against = [
        f"{path.relative_to(ROOT)}:{statement}"
        for path, layer in modules()
        for module, statement in imported(path)
        if not allowed(layer, module)
    ]
    assert not against, "imports against the flow (see ALLOWED in tests/test_layers.py):\n" + "\n".join(against)


def loaded_after(statement: str, prefix: str) -> list[str]:
    """The modules starting with `prefix` that a fresh interpreter has loaded after `statement`."""
    script = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    return [name for name in run.stdout.split() if name == prefix or name.startswith(f"{prefix}.")]


def test_config_loads_no_orm() -> None:
    assert loaded_after("import config", "sqlalchemy") == []


def test_the_observer_loads_no_handlers() -> None:
    assert loaded_after("import processing.observer", "handlers") == []


def callback_data_classes(cls: type[CallbackData]) -> Iterator[type[CallbackData]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from callback_data_classes(sub)


def test_callback_data_prefixes_are_unique() -> None:
    handlers.build_routers()  # every handler module is imported by now
    owners: dict[str, list[str]] = {}
    for cls in callback_data_classes(CallbackData):
        owners.setdefault(cls.__prefix__, []).append(f"{cls.__module__}.{cls.__qualname__}")
    assert len(owners) > 10  # the walk found the project's classes
    assert {p: names for p, names in owners.items() if len(names) > 1} == {}


def test_models_match_migrations(db_url: str) -> None:
    """`alembic check`: autogenerate finds nothing to add, drop or alter on a database at head."""
    command.check(alembic_config(db_url))
