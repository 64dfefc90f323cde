"""Just enough of Kubernetes' protobuf encoding to read built-in create bodies.

kubectl sends typed (built-in) objects as ``application/vnd.kubernetes.protobuf``
(e.g. ``kubectl create namespace``) and never falls back to JSON. We decode the
``runtime.Unknown`` envelope and the ObjectMeta fields that matter here.
"""

from __future__ import annotations

from typing import Any

from tests.sandbox.kubeapi import errors

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# ObjectMeta field numbers (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto).
_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace"}
_META_MAPS = {11: "labels", 12: "annotations"}
_META_FINALIZERS = 14


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise errors.bad_request("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; length-delimited values as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise errors.bad_request(f"unsupported protobuf wire type {wire}")
    return out


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, value in fields(data):
        if not isinstance(value, bytes):
            continue
        if number in _META_STRINGS:
            meta[_META_STRINGS[number]] = value.decode()
        elif number in _META_MAPS:
            entry = {n: v for n, v in fields(value) if isinstance(v, bytes)}
            meta.setdefault(_META_MAPS[number], {})[entry.get(1, b"").decode()] = entry.get(
                2, b""
            ).decode()
        elif number == _META_FINALIZERS:
            meta.setdefault("finalizers", []).append(value.decode())
    return meta


def decode(raw: bytes) -> dict[str, Any]:
    """A built-in object's apiVersion, kind and metadata (its spec is not decoded)."""
    if not raw.startswith(MAGIC):
        raise errors.bad_request("protobuf body without the k8s magic prefix")
    envelope = dict(fields(raw[len(MAGIC) :]))
    type_meta = {n: v for n, v in fields(_bytes(envelope.get(1))) if isinstance(v, bytes)}
    obj: dict[str, Any] = {
        "apiVersion": type_meta.get(1, b"").decode(),
        "kind": type_meta.get(2, b"").decode(),
        "metadata": {},
    }
    for number, value in fields(_bytes(envelope.get(2))):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _object_meta(value)
    return obj


def _bytes(value: int | bytes | None) -> bytes:
    return value if isinstance(value, bytes) else b""
