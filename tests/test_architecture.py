"""The layers contract (pyproject.toml, checked by `lint-imports`) leaves no module of lms/ out.

A module the contract does not name is not checked at all, so a new one must be given its
layer; `make test` runs `lint-imports` itself.
"""
import re
import tomllib
from pathlib import Path

import grimp

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def layered_modules():
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    layers = next(contract for contract in config["contracts"] if contract["id"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in re.split(r"[:|]", layer)}


def test_every_module_of_lms_has_its_place_in_the_layers_contract():
    graph = grimp.build_graph("lms", cache_dir=None)
    placed = layered_modules()

    def has_a_layer(module):
        return any(module == name or module.startswith(name + ".") for name in placed)

    # create_app (lms/__init__.py) sits above every layer; a package's __init__ that imports
    # nothing (its docstring) needs no layer.
    left_out = sorted(
        module for module in graph.modules - {"lms"}
        if not has_a_layer(module) and (not graph.find_children(module) or graph.find_modules_directly_imported_by(module))
    )
    assert left_out == [], f"add these modules to the layers contract in pyproject.toml: {left_out}"

