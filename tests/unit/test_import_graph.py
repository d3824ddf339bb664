"""The package's import graph has no cycles (a layers contract in pyproject.toml checks the
direction between packages; this checks it inside them, e.g. api/services <-> api/security)."""

from __future__ import annotations

import grimp


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("stockpred")

    cycles = [
        (module, imported, graph.find_shortest_chain(importer=imported, imported=module))
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    ]

    assert not cycles, cycles
