"""``kubectl-amistore``: the command line (kubectl's flags), its output and its exit codes.

Exit codes: 0 the watched AmiStore is Complete (or list/status succeeded), 1 a task Failed,
2 the watch timed out, 3 any other error (bad flags, kubeconfig, cluster, missing resource).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from amistore_operator.plugin import durations, errors, verdict

EPILOG = """\
kubectl passes only the flags that follow the plugin's name:
  kubectl amistore -n NS list     (not: kubectl -n NS amistore list)

exit codes: 0 Complete (or success), 1 a task Failed, 2 watch timed out, 3 any other error.
Colour follows the terminal; --no-color or NO_COLOR turns it off."""


class Parser(argparse.ArgumentParser):
    """argparse that exits 3 on a bad flag, with one line (2 is the watch's timeout)."""

    def error(self, message: str) -> NoReturn:
        self.exit(verdict.EXIT_ERROR, f"error: {message} (see: {self.prog} --help)\n")


def _timeout(text: str) -> float:
    try:
        seconds = durations.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"--timeout must be more than 0, got {text!r}")
    return seconds


def parser() -> Parser:
    """The flags, each accepted before or after the subcommand."""
    common = Parser(add_help=False)
    flag = common.add_argument
    flag("-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)")
    flag("--context", default=argparse.SUPPRESS, help="kubeconfig context to use")
    flag("--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig file (default: $KUBECONFIG)")
    flag("--no-color", action="store_true", default=argparse.SUPPRESS, help="no colour")
    every = Parser(add_help=False)
    every.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        default=argparse.SUPPRESS,
        help="list AmiStores in every namespace",
    )
    top = Parser(
        prog="kubectl amistore",
        description="Show AmiStore exports as progress bars with ETA, and wait for them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common, every],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", parents=[common, every], help="one row per AmiStore")
    status = commands.add_parser("status", parents=[common], help="one AmiStore in detail")
    status.add_argument("name", metavar="NAME")
    watch = commands.add_parser(
        "watch", parents=[common], help="live bars until Complete (0), Failed (1) or timeout (2)"
    )
    watch.add_argument("name", metavar="NAME")
    watch.add_argument(
        "--timeout",
        type=_timeout,
        default=None,
        metavar="DURATION",
        help="give up after this long, exit 2 (e.g. 30s, 10m, 1h30m; default: no limit)",
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; never a traceback."""
    args = parser().parse_args(argv)
    if getattr(args, "all_namespaces", False) and args.command != "list":
        parser().error("-A/--all-namespaces works only with list")
    try:
        from amistore_operator.plugin import commands  # the kubernetes client loads here

        return commands.run(args)
    except errors.PluginError as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # output piped to `head`: nothing left to say
    except Exception as error:  # one line instead of a traceback, as kubectl
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
    return verdict.EXIT_ERROR
