"""The layers of docs/architecture.md, guarded: imports flow one way, down, and never in a circle.

A lazy import inside a function counts (hiding a circle behind one is still a circle); an import
under ``if TYPE_CHECKING:`` does not (it never runs).
"""

from __future__ import annotations

from .import_graph import circles, graph

# From the top down; a module may import its own layer and the ones below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "weirflow",
        "weirflow.__main__",
        "weirflow.cli",
        "weirflow._cli_status",
        "weirflow._load",
        "weirflow._runcli",
    ),
    ("weirflow.testing", "weirflow.testing_http", "weirflow.testing_servers"),
    ("weirflow.flows", "weirflow.observe"),
    ("weirflow.connectors", "weirflow.storages", "weirflow.senders"),
    ("weirflow.abc", "weirflow._interfaces", "weirflow._registry"),
    (
        "weirflow._api",
        "weirflow._stage",
        "weirflow.sync",
        "weirflow.thread",
        "weirflow.task",
        "weirflow.process",
        "weirflow.ray",
    ),
    ("weirflow._runtime",),
)
MODEL = len(LAYERS)  # everything else (_errors, _checks, _retry, _hints, _redact...) is below


def layer(module: str) -> int:
    """The index of ``module``'s layer (0 = the top)."""
    for depth, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "weirflow" and module == "weirflow":
                return depth
            if prefix != "weirflow" and (module == prefix or module.startswith(prefix + ".")):
                return depth
    return MODEL


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(
        f"{module} -> {imported}"
        for module, imports in graph().items()
        for imported in imports
        if layer(imported) < layer(module)
    )
    assert upward == []


def test_no_import_circle_anywhere_in_the_package() -> None:
    assert [sorted(group) for group in circles()] == []


def test_the_guard_sees_a_lazy_import() -> None:
    # flows/_builder.py imports Flow inside build(): the graph has that edge
    assert "weirflow.flows._flow" in graph()["weirflow.flows._builder"]
