"""How people come in: groups, invitations, invite links and account rosters, one package each.

Services of a lower package never import a higher one (lms/enrollment/groups < invitations <
links, rosters), and none imports a page or a command: see [tool.importlinter] in pyproject.toml.
"""
