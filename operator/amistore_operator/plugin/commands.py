"""The commands: read (or create in) the cluster, render, print; each returns the exit code."""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any

from amistore_operator.plugin import (
    cluster,
    errors,
    kinds,
    render,
    restorerender,
    restorerequest,
    verdict,
    view,
    watch,
)


def now() -> datetime.datetime:
    """The wall clock, in UTC."""
    return datetime.datetime.now(datetime.UTC)


def run(args: argparse.Namespace) -> int:
    """Connect with kubectl's flags and run ``args.command``."""
    # Bad values are told before the kubeconfig is read.
    body = _restore_body(args) if args.command == "restore" else {}
    kind, name = kinds.target(args.name) if args.command in ("status", "watch") else (None, "")
    api = cluster.connect(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    namespace = getattr(args, "namespace", None) or api.namespace
    out = view.make_console(no_color=getattr(args, "no_color", False))
    if args.command == "list":
        return _list(api, None if getattr(args, "all_namespaces", False) else namespace, out)
    if args.command == "restore":
        body["metadata"]["namespace"] = namespace
        return _restore(api, body, args, out)
    assert kind is not None
    if args.command == "status":
        obj, _ = cluster.get_object(api, kind, namespace, name)
        events = cluster.events(api, obj)
        shown = view.restore_status_view if kind == kinds.AMIRESTORE else view.status_view
        out.print(shown(obj, events, now(), view.ascii_only(out)))
        return 0
    return _watch(api, namespace, kind, name, args.timeout, out)


def _list(api: cluster.Cluster, namespace: str | None, out: view.Console) -> int:
    """AmiStores, then AmiRestores (left out when none, or when their CRD is not installed)."""
    stores = cluster.list_amistores(api, namespace).get("items") or []
    try:
        restores = cluster.list_objects(api, kinds.AMIRESTORE, namespace).get("items") or []
    except errors.NoResourceTypeError:
        restores = []  # an operator of before AmiRestore: AmiStores only
    every, ascii_bars = namespace is None, view.ascii_only(out)
    if not stores and not restores:
        where = "any namespace" if every else f'namespace "{namespace}"'
        print(f"No AmiStores or AmiRestores found in {where}.", file=sys.stderr)
        return 0
    if stores:
        rows = render.list_rows(stores, now())
        out.print(view.list_table(rows, namespaces=every, ascii_bars=ascii_bars))
    if restores:
        if stores:
            out.print()
        found = restorerender.list_rows(restores, now())
        out.print(view.restore_list_table(found, namespaces=every, ascii_bars=ascii_bars))
    return 0


def _restore_body(args: argparse.Namespace) -> dict[str, Any]:
    """The AmiRestore the flags ask for (its namespace filled in once connected)."""
    if args.timeout is not None and not args.wait:
        raise errors.PluginError("--timeout works only with --wait")
    request = restorerequest.Request(
        url=args.url,
        namespace="",
        ami_name=args.ami_name,
        resource_name=args.resource_name,
        region=args.region,
        account=args.account,
        thaw_days=args.thaw_days,
        thaw_tier=args.thaw_tier,
    )
    return restorerequest.body(request)


def _restore(
    api: cluster.Cluster, body: dict[str, Any], args: argparse.Namespace, out: view.Console
) -> int:
    """Create one AmiRestore; with ``--wait``, follow it as ``watch`` does."""
    namespace = body["metadata"]["namespace"]
    created = cluster.create_amirestore(api, body)
    name = str(created.get("metadata", {}).get("name") or body["metadata"]["name"])
    spec = body["spec"]
    ami = f'AMI "{spec["name"]}"' if "name" in spec else "the AMI (named as the object records)"
    print(f'amirestore "{name}" created in namespace "{namespace}": {ami} from {args.url}')
    if not args.wait:
        print(f"next: kubectl wait --for=condition=Complete amirestore/{name} -n {namespace}")
        return 0
    sys.stdout.flush()
    return _watch(api, namespace, kinds.AMIRESTORE, name, args.timeout, out)


def _watch(
    api: cluster.Cluster,
    namespace: str,
    kind: kinds.Kind,
    name: str,
    timeout: float | None,
    out: view.Console,
) -> int:
    restore = kind == kinds.AMIRESTORE
    if out.is_terminal:
        screen = view.restore_summary if restore else view.store_screen
        with view.LiveView(out, now, screen) as live:
            judged, obj = watch.follow(api, namespace, name, live, timeout, kind=kind)
    else:
        lines = restorerender.plain_lines if restore else render.plain_lines
        plain = watch.PlainLines(sys.stdout, now, lines)
        judged, obj = watch.follow(api, namespace, name, plain, timeout, kind=kind)
    if restore:
        return _restore_ended(name, judged, obj)
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


def _restore_ended(name: str, judged: verdict.Verdict | None, obj: render.Obj) -> int:
    """The last line of a restore's watch, and its exit code."""
    status = render.status_of(obj)
    if judged is verdict.Verdict.COMPLETE:
        image, image_name = status.get("imageId") or "?", status.get("imageName")
        named = f" ({image_name})" if image_name else ""
        print(f'amirestore "{name}" is Available: {image}{named}')
        return verdict.EXIT_CODES[judged]
    if judged is verdict.Verdict.FAILED:
        print(f'amirestore "{name}" has failed: {restorerender.failure(obj)}')
        return verdict.EXIT_CODES[judged]
    phase, percent = restorerender.phase(obj), restorerender.percent(obj)
    print(
        f'error: timed out waiting for amirestore "{name}" (phase {phase}, {percent}%)',
        file=sys.stderr,
    )
    return verdict.EXIT_TIMEOUT
