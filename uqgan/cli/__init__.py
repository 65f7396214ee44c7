"""The ``uqgan`` command line: parse, build configs, call the library.

No logic lives here (see STYLE.md). Every command maps the library's :class:`ConfigError` and a
missing file to one message line per problem on stderr and exit code 2; an optional dependency
that cannot be imported (dolfinx for ``solve``) gives exit code 1 with its install hint.

Examples
--------
::

    uqgan init my_case            # writes my_case/case.toml (the default case, commented)
    uqgan check my_case/case.toml # validates it and prints a summary
    uqgan solve my_case/case.toml --set load_position=0.5 --out run.json --xdmf run.xdmf
"""

from __future__ import annotations

from . import _case, _data, _generators, _montecarlo  # noqa: F401  (each registers its commands on the app)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point (``uqgan``)."""
    app(prog_name="uqgan")
