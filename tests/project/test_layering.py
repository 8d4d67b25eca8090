"""The import graph of the three packages: layered, one way, without circles (ARCHITECTURE.md)."""
import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cost_models", "supernet", "search")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module ``path`` imports, at any depth of the file (function-level too)."""
    name, out = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m.split(".")[0] in PACKAGES}


def graph() -> nx.DiGraph:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    g = nx.DiGraph()
    for p in files:
        src = module_name(p)
        g.add_node(src)
        for m in imports_of(p):
            while m not in modules and "." in m:  # `from pkg import name`: the name is not a module
                m = m.rpartition(".")[0]
            if m in modules and m != src and not src.startswith(m + "."):
                g.add_edge(src, m)
    return g


def test_the_packages_are_layered():
    rank = {pkg: i for i, pkg in enumerate(PACKAGES)}
    wrong = [(a, b) for a, b in graph().edges if rank[b.split(".")[0]] > rank[a.split(".")[0]]]
    assert not wrong, f"a lower package imports a higher one: {wrong}"


def test_only_the_cli_imports_the_cli():
    wrong = [(a, b) for a, b in graph().edges if b.startswith("search.cli") and not a.startswith(("search.cli", "search.__main__"))]
    assert not wrong, wrong


def test_no_import_circles():
    g = graph()
    # a package's __init__ re-exporting its own modules is not a circle of the flow
    g.remove_edges_from([(a, b) for a, b in list(g.edges) if b.startswith(a + ".") or a.startswith(b + ".")])
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import circles: {cycles[:5]}"
