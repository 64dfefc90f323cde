"""The three commands: read the cluster, render, print; each returns the exit code."""

from __future__ import annotations

import argparse
import datetime
import sys

from amistore_operator.plugin import cluster, render, verdict, view, watch


def now() -> datetime.datetime:
    """The wall clock, in UTC."""
    return datetime.datetime.now(datetime.UTC)


def run(args: argparse.Namespace) -> int:
    """Connect with kubectl's flags and run ``args.command``."""
    api = cluster.connect(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    namespace = getattr(args, "namespace", None) or api.namespace
    out = view.make_console(no_color=getattr(args, "no_color", False))
    if args.command == "list":
        every = getattr(args, "all_namespaces", False)
        items = cluster.list_amistores(api, None if every else namespace).get("items") or []
        if not items:
            where = "any namespace" if every else f'namespace "{namespace}"'
            print(f"No AmiStores found in {where}.", file=sys.stderr)
            return 0
        rows = render.list_rows(items, now())
        out.print(view.list_table(rows, namespaces=every, ascii_bars=view.ascii_only(out)))
        return 0
    if args.command == "status":
        obj, _ = cluster.get_amistore(api, namespace, args.name)
        events = cluster.events(api, obj)
        out.print(view.status_view(obj, events, now(), view.ascii_only(out)))
        return 0
    return _watch(api, namespace, args.name, args.timeout, out)


def _watch(
    api: cluster.Cluster, namespace: str, name: str, timeout: float | None, out: view.Console
) -> int:
    if out.is_terminal:
        with view.LiveView(out, now) as live:
            judged, obj = watch.follow(api, namespace, name, live, timeout)
    else:
        judged, obj = watch.follow(api, namespace, name, watch.PlainLines(sys.stdout, now), timeout)
    if judged is verdict.Verdict.COMPLETE:
        print(f'amistore "{name}" is Complete')
        return verdict.EXIT_CODES[judged]
    if judged is verdict.Verdict.FAILED:
        print(f'amistore "{name}" has failed tasks:')
        for reason in verdict.failures(obj):
            print(f"  {reason}")
        return verdict.EXIT_CODES[judged]
    state = render.state(obj)
    percent = render.percent(render.status_of(obj))
    print(
        f'error: timed out waiting for amistore "{name}" (state {state}, {percent}%)',
        file=sys.stderr,
    )
    return verdict.EXIT_TIMEOUT
