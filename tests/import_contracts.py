"""An import-linter contract type for what its own types leave out: import cycles between modules.

`acyclic_siblings` forbids cycles between sibling packages, which is too strict here (a page of
accounts may show groups while groups' services read users), and layers with `:` siblings
allow imports both ways. This contract fails for every module that imports another one that,
directly or through others, imports it back, and prints the way round. Registered in
pyproject.toml under [tool.importlinter] contract_types; `lint-imports` runs it.
"""
from importlinter import Contract, ContractCheck, fields, output


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph, verbose):
        modules = set()
        for package in self.packages:
            modules |= {package.name} | graph.find_descendants(package.name)
        cycles = {}
        for importer in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer) & modules):
                way_back = graph.find_shortest_chain(importer=imported, imported=importer)
                if way_back:
                    cycle = (importer, *way_back)  # importer -> imported -> ... -> importer
                    cycles.setdefault(_key(cycle), cycle)
        return ContractCheck(kept=not cycles, metadata={"cycles": [cycles[key] for key in sorted(cycles)]})

    def render_broken_contract(self, check):
        output.print("These modules import a module that imports them back:")
        output.new_line()
        for cycle in check.metadata["cycles"]:
            output.print_error("- " + " -> ".join(cycle), bold=False)
        output.new_line()
        output.print("Break each circle: move the shared part lower, or let the lower module take a "
                     "hook (see the layers contract).")


def _key(cycle):
    """The same circle found from each of its modules counts once."""
    return frozenset(zip(cycle, cycle[1:]))
