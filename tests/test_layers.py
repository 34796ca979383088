"""The layering, checked on the imports (issue 30): the engine side (`docker/`) never
imports the messages side, the Hinemos side or anything that serves; the pure core
(`model`, `metrics/`) imports only itself; `config` imports nothing of ours but pure
leaves and the pure core. A back-arrow makes a module's tests need the whole daemon."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "hinedockd"
ABOVE_THE_ENGINE = ("hinedockd.messages", "hinedockd.hinemos", "hinedockd.queries",
                    "hinedockd.api", "hinedockd.jobroutes", "hinedockd.app", "hinedockd.monitors",
                    "hinedockd.prometheus", "hinedockd.readings", "hinedockd.status",
                    "hinedockd.snmp", "hinedockd.client")
RULES = {
    # module prefix -> the only modules of ours it may import (prefixes)
    "hinedockd.model": ("hinedockd.model",),
    "hinedockd.metrics": ("hinedockd.metrics", "hinedockd.model"),
    "hinedockd.config": ("hinedockd.model", "hinedockd.processes", "hinedockd.metrics",
                         "hinedockd.messages.framing", "hinedockd.schema"),
    "hinedockd.schema": (),  # the config's reader: nothing of ours
}


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("hinedockd")}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
           if "testing" not in p.parts}


def test_the_package_is_found() -> None:
    assert {"hinedockd.docker.host", "hinedockd.config", "hinedockd.model"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("hinedockd.docker")))
def test_the_engine_side_imports_nothing_above_it(name: str) -> None:
    wrong = {m for m in imports(MODULES[name]) if m.startswith(ABOVE_THE_ENGINE)}
    assert not wrong, f"{name} imports {sorted(wrong)}"


@pytest.mark.parametrize("prefix", sorted(RULES))
def test_the_core_and_the_config_import_only_what_is_below_them(prefix: str) -> None:
    for name, path in MODULES.items():
        if name == prefix or name.startswith(prefix + "."):
            wrong = {m for m in imports(path)
                     if not any(m == a or m.startswith(a + ".") for a in RULES[prefix])
                     and m != "hinedockd"}
            assert not wrong, f"{name} imports {sorted(wrong)}"
