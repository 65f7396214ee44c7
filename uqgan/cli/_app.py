"""The command line's shared plumbing: the typer app, logging, and the mapping of the library's
input errors to one line on stderr and an exit code (2: bad input, 1: a missing optional
dependency, 3: a campaign with failed samples)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from typer.core import TyperGroup

from ..config import ConfigError

__all__ = ["EXIT_ENVIRONMENT", "EXIT_FAILED_SAMPLES", "EXIT_USAGE", "app"]


logger = logging.getLogger(__name__)

#: exit code of bad user input (bad case file, bad option value, refused overwrite)
EXIT_USAGE = 2
#: exit code of a missing optional dependency
EXIT_ENVIRONMENT = 1
#: exit code of a campaign that finished with failed samples (recorded; a rerun retries them)
EXIT_FAILED_SAMPLES = 3

#: loggers of the FEniCSx JIT (ffcx, UFL, and distutils/setuptools building the C extensions)
_NOISY_LOGGERS = (
    "ffcx",
    "UFL",
    "UFL_LEGACY",
    "ufl",
    "dijitso",
    "compilers",
    "distutils",
    "setuptools",
)

# help texts use rich markup: a literal unit is written "\\[s]" (rich would read "[s]" as a style)
# typer vendors click: take its exception classes from the public BadParameter's ancestry
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrors(TyperGroup):
    """Report click's usage errors (a non-integer --samples, an unknown option) as one line on
    stderr with exit code 2, like every other input error, instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError" and err.ctx is not None:
                typer.echo(err.ctx.get_help())
            else:
                where = f" (see `{err.ctx.command_path} --help`)" if err.ctx is not None else ""
                typer.echo(f"error: {err.format_message()}{where}", err=True)
            sys.exit(EXIT_USAGE)
        except _ClickException as err:
            typer.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="uqgan",
    cls=_OneLineErrors,
    help="Uncertainty quantification in a submodel zone under fast dynamics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# ------------------------------------------------------------------------------------------------
# logging and errors


class _OwnHandler(logging.StreamHandler):
    """The handler the CLI installs on the root logger (so repeated invocations replace it)."""


class _OnlyUqganBelowWarning(logging.Filter):
    """Let other libraries' records through only from WARNING up (the FEniCSx JIT logs its
    compiler calls at INFO on the root logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".")[0] == "uqgan"


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Install one stderr handler on the root logger: WARNING by default, ERROR with ``-q``,
    uqgan's INFO with ``-v``, everything (FEniCSx JIT included) at DEBUG with ``-vv``."""
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _OwnHandler)]:
        root.removeHandler(h)
    handler = _OwnHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if verbose < 2:
        handler.addFilter(_OnlyUqganBelowWarning())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def _fail(lines: str | list[str], code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``lines`` to stderr (no wrapping, no traceback) and return the Exit to raise."""
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Map the library's input errors to messages on stderr and exit code 2."""
    try:
        yield
    except ConfigError as err:
        raise _fail(str(err).splitlines()) from None
    except (
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
    ) as err:
        raise _fail(str(err)) from None
    except ValueError as err:
        # a DatasetError (missing, corrupt or off-schema data), a SubmodelError (histories that do
        # not fit the case) or a GeneratorError (data or parameters a generator cannot serve) can
        # only come from a loaded module: look there instead of importing them (and scipy, dolfinx)
        # for every command
        known = [getattr(sys.modules.get(f"uqgan.{mod}"), name, None)
                 for mod, name in (("data.dataset", "DatasetError"), ("fem.submodel", "SubmodelError"),
                                   ("generators", "GeneratorError"))]
        if not any(cls is not None and isinstance(err, cls) for cls in known):
            raise
        raise _fail(str(err)) from None


def _console():
    from rich.console import Console

    return Console()


def _version_callback(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"uqgan {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More log output on stderr: -v shows uqgan's progress (INFO), -vv everything "
            "at DEBUG, FEniCSx JIT compilation included.",
        ),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log only errors (results are still printed).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the uqgan version and exit.",
        ),
    ] = False,
) -> None:
    """uqgan: FEniCSx full-model campaigns, generative models of zone-boundary histories and fast
    submodel Monte Carlo. Units are SI (m, s, Pa)."""
    _configure_logging(verbose, quiet)
