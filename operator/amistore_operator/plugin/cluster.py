"""The cluster through the official ``kubernetes`` client: kubeconfig, AmiStores and
AmiRestores (list, get, watch; create an AmiRestore), Events.

Every call returns plain dicts (the API's JSON) and turns the client's exceptions into one
``PluginError`` line: a missing CRD, an unreachable cluster, a refused login, a name taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client, config, watch

from amistore_operator.plugin import errors, kinds

GROUP, VERSION = kinds.GROUP, kinds.VERSION
REQUEST_TIMEOUT = (10, 30)  # connect, read: a dead endpoint is an error, not a hang
Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Cluster:
    """An API client for one kubeconfig context and that context's default namespace."""

    api: Any  # kubernetes.client.ApiClient
    namespace: str
    host: str


def connect(kubeconfig: str | None, context: str | None) -> Cluster:
    """Log in as kubectl would: ``--kubeconfig``, else ``KUBECONFIG``, else ~/.kube/config."""
    try:
        contexts, active = config.list_kube_config_contexts(kubeconfig)
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        if chosen is None:
            raise errors.PluginError(f'context "{context}" does not exist in the kubeconfig')
        api = config.new_client_from_config(kubeconfig, context=context, persist_config=False)
    except (config.ConfigException, OSError, ValueError) as error:
        raise errors.PluginError(f"cannot load the kubeconfig: {error}") from None
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return Cluster(api, namespace, str(api.configuration.host))


@contextlib.contextmanager
def _translated(cluster: Cluster, kind: kinds.Kind = kinds.AMISTORE) -> Iterator[None]:
    """The client's exceptions as one line each."""
    try:
        yield
    except client.ApiException as error:
        if error.status == 404 and _details(error).get("kind") == "namespaces":
            raise errors.PluginError(_message(error)) from None  # a create in no namespace
        if error.status == 404:
            raise errors.NoResourceTypeError(
                f"the server has no {kind.kind} resource type: is the CRD {kind.crd} installed?"
            ) from None
        if error.status == 410:
            raise errors.WatchExpiredError("watch expired") from None
        raise errors.PluginError(f"the server answered {error.status}: {_message(error)}") from None
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        raise errors.PluginError(f"cannot reach the cluster at {cluster.host}: {reason}") from None


def _message(error: Any) -> str:
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


def _details(error: Any) -> Obj:
    try:
        return dict(json.loads(error.body).get("details") or {})
    except (TypeError, ValueError, AttributeError):
        return {}


def list_objects(
    cluster: Cluster, kind: kinds.Kind, namespace: str | None, name: str | None = None
) -> Obj:
    """The list of one kind (``items``, ``metadata.resourceVersion``); all namespaces on None."""
    api = client.CustomObjectsApi(cluster.api)
    selector = {"field_selector": f"metadata.name={name}"} if name else {}
    with _translated(cluster, kind):
        if namespace is None:
            return dict(
                api.list_cluster_custom_object(
                    GROUP, VERSION, kind.plural, _request_timeout=REQUEST_TIMEOUT, **selector
                )
            )
        return dict(
            api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, _request_timeout=REQUEST_TIMEOUT, **selector
            )
        )


def list_amistores(cluster: Cluster, namespace: str | None, name: str | None = None) -> Obj:
    """The AmiStore list; all namespaces on None."""
    return list_objects(cluster, kinds.AMISTORE, namespace, name)


def get_object(cluster: Cluster, kind: kinds.Kind, namespace: str, name: str) -> tuple[Obj, str]:
    """One resource and the list's resourceVersion to watch from; an error when absent."""
    listing = list_objects(cluster, kind, namespace, name)
    items = listing.get("items") or []
    if not items:
        raise errors.PluginError(f'{kind.singular} "{name}" not found in namespace "{namespace}"')
    return dict(items[0]), str(listing.get("metadata", {}).get("resourceVersion", ""))


def get_amistore(cluster: Cluster, namespace: str, name: str) -> tuple[Obj, str]:
    """One AmiStore and the resourceVersion to watch from."""
    return get_object(cluster, kinds.AMISTORE, namespace, name)


def get_amirestore(cluster: Cluster, namespace: str, name: str) -> tuple[Obj, str]:
    """One AmiRestore and the resourceVersion to watch from."""
    return get_object(cluster, kinds.AMIRESTORE, namespace, name)


def create_amirestore(cluster: Cluster, body: Obj) -> Obj:
    """Create one AmiRestore as ``body`` says; a name already taken is an error."""
    api = client.CustomObjectsApi(cluster.api)
    meta = body["metadata"]
    with _translated(cluster, kinds.AMIRESTORE):
        try:
            return dict(
                api.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    meta["namespace"],
                    kinds.AMIRESTORE.plural,
                    body,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        except client.ApiException as error:
            if error.status != 409:
                raise
    raise errors.PluginError(
        f'amirestore "{meta["name"]}" already exists in namespace "{meta["namespace"]}"'
        " (--resource-name NAME picks another name)"
    )


def events(cluster: Cluster, obj: Obj) -> list[Obj]:
    """The Events about one resource (matched by UID, so a namesake's old Events are left out)."""
    meta = obj["metadata"]
    api = client.CoreV1Api(cluster.api)
    with _translated(cluster):
        response = api.list_namespaced_event(
            meta["namespace"],
            field_selector=f"involvedObject.name={meta['name']}",
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    items = json.loads(response.data).get("items") or []
    uid = meta.get("uid")
    return [e for e in items if (e.get("involvedObject") or {}).get("uid") in (uid, None)]


def watch_object(
    cluster: Cluster,
    kind: kinds.Kind,
    namespace: str,
    name: str,
    resource_version: str,
    seconds: int,
) -> Iterator[tuple[str, Obj]]:
    """(type, object) for each change of one resource, for at most ``seconds``."""
    api = client.CustomObjectsApi(cluster.api)
    stream = watch.Watch().stream(
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        kind.plural,
        field_selector=f"metadata.name={name}",
        resource_version=resource_version,
        timeout_seconds=seconds,
        allow_watch_bookmarks=False,
        _request_timeout=(REQUEST_TIMEOUT[0], seconds + 5),
    )
    with _translated(cluster, kind):
        try:
            for event in stream:
                yield str(event["type"]), dict(event["object"])
        except urllib3.exceptions.ReadTimeoutError:
            return  # no change within the window: the caller checks its deadline


def watch_amistore(
    cluster: Cluster, namespace: str, name: str, resource_version: str, seconds: int
) -> Iterator[tuple[str, Obj]]:
    """(type, object) for each change of one AmiStore, for at most ``seconds``."""
    return watch_object(cluster, kinds.AMISTORE, namespace, name, resource_version, seconds)


def watch_amirestore(
    cluster: Cluster, namespace: str, name: str, resource_version: str, seconds: int
) -> Iterator[tuple[str, Obj]]:
    """(type, object) for each change of one AmiRestore, for at most ``seconds``."""
    return watch_object(cluster, kinds.AMIRESTORE, namespace, name, resource_version, seconds)
