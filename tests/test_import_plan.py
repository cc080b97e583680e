"""The import plan (ARCHITECTURE.md): imports follow the data flow, and nothing imports back.

Every ``gler`` module belongs to one layer of the flow; a module imports only from its own
layer or the layers before it (imports inside functions count too), the trainer is imported
only by what trains, and no group of modules imports itself round in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gler"

#: The layers in the order of the data flow; a module belongs to the first prefix it matches.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("gler", "gler.allocator", "gler.config", "gler.metrics")),
    ("data", ("gler.data",)),
    ("layers", ("gler.kernels", "gler.layers")),
    ("models", ("gler.models", "gler.baselines")),
    ("run directory", ("gler.run",)),
    ("training", ("gler.averaging", "gler.checkpoint", "gler.turns", "gler.train")),
    ("forecast and evaluate", ("gler.forecast", "gler.conformal", "gler.scoring",
                               "gler.alerts", "gler.evaluate", "gler.inspect",
                               "gler.outofcore", "gler.peers")),
    ("experiment", ("gler.search_space", "gler.tuned", "gler.profiles", "gler.schedule",
                    "gler.experiment", "gler.transfer", "gler.peer_forecasts", "gler.tables",
                    "gler.tune", "gler.archive")),
    ("book and command line", ("gler.plot", "gler.notebook", "gler.reproduce", "gler.cli",
                               "gler.__main__")),
)
#: What may import the trainer: what trains (``gler.tune`` trains one model per fold and
#: trial).
TRAINERS = ("gler.experiment", "gler.cli.train", "gler.tune")


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the ``gler`` modules it imports anywhere in its file."""

    def known(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names if a.name.startswith("gler")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (
                    node.module or "").startswith("gler"):
                targets |= {known(f"{node.module}.{a.name}") for a in node.names}
        graph[name] = targets - {name}
    return graph


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the most specific prefix that ``module`` matches."""
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS)
               for prefix in prefixes if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        msg = f"{module} belongs to no layer of the import plan; add it to LAYERS."
        raise ValueError(msg)
    return max(matches)[1]


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the flow, every import of the trainer by what does not train,
    and every cycle."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                found.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]})")
            if target == "gler.train" and not module.startswith(TRAINERS):
                found.append(f"{module} imports the trainer")
    found += [f"cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path round each cycle (depth-first search, modules in sorted order)."""
    state: dict[str, str] = {}
    path: list[str] = []
    found = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_the_package_follows_the_import_plan():
    """No import against the data flow, the trainer only in what trains, no cycle."""
    assert violations(import_graph(module_files())) == []


def test_every_module_has_a_layer():
    """A new module must be placed in the plan (and so in ARCHITECTURE.md)."""
    for module in module_files():
        layer_of(module)


@pytest.mark.parametrize(("edge", "message"), [
    (("gler.data.windows", "gler.models"), "gler.data.windows (data) imports gler.models"),
    (("gler.models.gler", "gler.train"), "imports the trainer"),
    (("gler.forecast", "gler.train"), "gler.forecast imports the trainer"),
    (("gler.evaluate", "gler.experiment"), "(forecast and evaluate) imports gler.experiment"),
    (("gler.data.model", "gler.data.windows"), "cycle: gler.data.model -> gler.data.windows"),
])
def test_the_check_finds_a_planted_violation(edge, message):
    """Each rule fails when one import against it is added to the real graph."""
    graph = import_graph(module_files())
    module, target = edge
    graph[module] = graph[module] | {target}
    assert any(message in line for line in violations(graph)), violations(graph)


def test_a_module_outside_the_plan_is_refused():
    """A module that matches no prefix is named."""
    with pytest.raises(ValueError, match="gler_extra belongs to no layer"):
        layer_of("gler_extra")
