"""Entry point: parse the arguments, run one command and turn known failures into one line."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from app.cli.errors import CliError
from app.cli.parser import build_parser

# Each command lives in its own module, imported only when it runs, so `--help` and `serve`
# never pay for loading the engine or the datasets.
_COMMAND_MODULES = {
    "train": "app.cli.train",
    "evaluate": "app.cli.evaluate",
    "predict": "app.cli.predict",
    "inspect": "app.cli.inspect",
    "datasets": "app.cli.datasets",
    "presets": "app.cli.presets",
    "serve": "app.cli.serve",
}

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cnn-playground`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded by `train` in the model's metadata
    module = importlib.import_module(_COMMAND_MODULES[args.command])

    try:
        return module.run(args) or 0
    except BrokenPipeError:
        # The reader of stdout went away (for example `| head`): stop quietly, as Unix tools do,
        # and keep Python from failing again while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        _print_error("interrupted")
        return EXIT_INTERRUPTED
    except (CliError, ValueError, TypeError, OSError) as error:
        # The engine raises ValueError/TypeError with messages written for users (argument,
        # value received, what is accepted), and OSError carries the path that failed.
        if args.debug:
            raise
        _print_error(_describe(error))
        return EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if args.debug:
            raise
        _print_error(
            f"unexpected {type(error).__name__}: {_describe(error)} "
            "(rerun with --debug to see the traceback)"
        )
        return EXIT_ERROR


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    else:
        text = str(error) or type(error).__name__
    # One line whatever the message contains, so scripts can read stderr line by line.
    return " ".join(text.split())


def _print_error(message: str) -> None:
    print(f"cnn-playground: error: {message}", file=sys.stderr)
