"""The import graph follows the layers: no module imports from a higher layer (so no circle crosses packages)."""

import ast
from pathlib import Path

import infwidth

# lowest first; a module may import from its own layer and the layers below it
LAYERS = [
    {"errors", "plotting", "device", "datasets", "runs", "nonlinearities", "losses", "fitting"},
    {"tensor_programs"},  # the engine: programs and their limits; knows nothing about networks
    {"parametrizations", ""},  # "" is the top-level package infwidth/__init__.py (the core's face)
    {"networks"},
    {"coordcheck", "limits"},  # two views side by side: neither imports the other
    {"studies", "anymodel"},  # anymodel: any nn.Module parametrized, classified and coordinate-checked
    {"experiments"},
    {"tour"},
    {"cli", "__main__"},
]


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 and parts[0] == "infwidth" else ""
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: no layer; add its package to LAYERS")


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "infwidth" or m.startswith("infwidth.")}


def test_no_import_runs_up_a_layer():
    src = Path(infwidth.__file__).parent
    upward = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src.parent).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for target in _imports(path) - {"infwidth"}:  # the package face (__version__, re-exports) loads first anyway
            if _layer(target) > _layer(rel):
                upward.append(f"{rel} -> {target}")
    assert not upward, "\n".join(sorted(upward))


def test_the_checker_sees_an_upward_import():
    assert _layer("infwidth.parametrizations.abc") < _layer("infwidth.networks.mlp") < _layer("infwidth.cli.converge")
    assert _layer("infwidth.tour.word2vec") < _layer("infwidth.cli.word2vec")  # the tour may not import the CLI
