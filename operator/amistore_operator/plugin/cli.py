"""``kubectl-amistore``: the command line (kubectl's flags), its output and its exit codes.

Exit codes: 0 the watched AmiStore is Complete or AmiRestore Available (or the command
succeeded), 1 a task or the restore Failed, 2 the watch timed out, 3 any other error (bad
flags, kubeconfig, cluster, missing resource, an AmiRestore of that name already there).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from amistore_operator.plugin import durations, errors, verdict

EPILOG = """\
kubectl passes only the flags that follow the plugin's name:
  kubectl amistore -n NS list     (not: kubectl -n NS amistore list)

NAME is an AmiStore's; amirestore/NAME (or amr/NAME) an AmiRestore's.
exit codes: 0 Complete or Available (or success), 1 Failed, 2 watch timed out, 3 any other error.
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
        help="list AmiStores and AmiRestores in every namespace",
    )
    top = Parser(
        prog="kubectl amistore",
        description=(
            "Show AmiStore exports as progress bars with ETA, restore an archived AMI,"
            " and wait for either."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common, every],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "list", parents=[common, every], help="one row per AmiStore, then per AmiRestore"
    )
    status = commands.add_parser(
        "status", parents=[common], help="one AmiStore (NAME) or AmiRestore (amr/NAME) in detail"
    )
    status.add_argument("name", metavar="NAME|amirestore/NAME")
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="live bars until Complete or Available (0), Failed (1) or timeout (2)",
    )
    watch.add_argument("name", metavar="NAME|amirestore/NAME")
    _timeout_flag(watch)
    _restore_command(commands.add_parser, common)
    return top


def _restore_command(add: Any, common: Parser) -> None:
    restore = add(
        "restore",
        parents=[common],
        help="create an AmiRestore for s3://BUCKET/ami-....bin (--wait follows it as watch)",
    )
    flag = restore.add_argument
    flag("url", metavar="s3://BUCKET/ami-....bin", help="the object a store task wrote")
    flag("--ami-name", metavar="NAME", help="the new AMI's name (default: the object's record)")
    flag("--resource-name", metavar="NAME", help="default: restore-AMI_ID from the key")
    flag("--region", metavar="REGION", help="default: the operator's region")
    flag("--account", metavar="ID", help="an account of the operator's account map")
    flag("--thaw-days", type=int, metavar="N", help="archived object: keep a thawed copy N days")
    flag("--thaw-tier", metavar="TIER", help="Standard (default), Bulk or Expedited")
    flag("--wait", action="store_true", help="follow it until Available (0) or Failed (1)")
    _timeout_flag(restore)


def _timeout_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--timeout",
        type=_timeout,
        default=None,
        metavar="DURATION",
        help="give up after this long, exit 2 (e.g. 30s, 10m, 1h30m; default: no limit)",
    )


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
