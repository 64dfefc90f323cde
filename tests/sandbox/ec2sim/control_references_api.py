"""Control endpoints for the resources that reference AMIs (``?account=`` as elsewhere).

GET /_sim/references: the account's instances, launch templates, SSM parameters
    and Image Builder recipes.
POST /_sim/references: add any of
    instances: [{"ami_id", "state"? (running), "instance_id"?}]
    launch_templates: [{"versions": [ami_id or null, ...] (oldest first), "name"?,
        "launch_template_id"?}]
    ssm_parameters: [{"name", "ami_id"}]
    image_recipes, container_recipes: [{"name", "version"? (1.0.0), "ami_id"}]
  and get them back with their IDs. The AMIs need not exist (a reference can outlive one).
POST /_sim/references/instances/{instance_id} {"state"}: pending, running,
    shutting-down, terminated, stopping or stopped.
POST /_sim/references/launch-templates/{launch_template_id} {"ami_id"}: a new
    (newest) version naming that AMI (null: none); answers its number.
POST /_sim/references/remove {"kind", "id"}: kind instance, launch-template,
    ssm-parameter, image-recipe or container-recipe; id the instance or launch
    template ID, the parameter's name, or a recipe's name/version.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from tests.sandbox.ec2sim import control_api, controljson, references, state
from tests.sandbox.ec2sim.controljson import Body

NAMED_KINDS = {
    "ssm_parameters": references.SSM_PARAMETER,
    "image_recipes": references.IMAGE_RECIPE,
    "container_recipes": references.CONTAINER_RECIPE,
}
NAMED_BY_REMOVABLE = {
    "ssm-parameter": references.SSM_PARAMETER,
    "image-recipe": references.IMAGE_RECIPE,
    "container-recipe": references.CONTAINER_RECIPE,
}
REMOVABLE = ("instance", "launch-template", *NAMED_BY_REMOVABLE)


def _specs(body: Body, key: str) -> list[Body]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        controljson.bad(f"{key} must be a list of objects")
    return value


def _named_key(named: references.Named) -> tuple[str, str]:
    if named.kind == references.SSM_PARAMETER:
        return (named.kind, named.name)
    return (named.kind, f"{named.name}/{named.version}")


def _instance(sim: state.SimState, spec: Body) -> references.Instance:
    return references.Instance(
        controljson.text(spec, "instance_id") if "instance_id" in spec else sim.ids.make("i"),
        controljson.text(spec, "ami_id"),
        controljson.choice(spec.get("state", "running"), "state", references.INSTANCE_STATES),
    )


def _template(sim: state.SimState, spec: Body) -> references.LaunchTemplate:
    versions = spec.get("versions")
    if not isinstance(versions, list) or not all(v is None or isinstance(v, str) for v in versions):
        controljson.bad("versions must be a list of AMI IDs or nulls, oldest first")
    template_id = (
        controljson.text(spec, "launch_template_id")
        if "launch_template_id" in spec
        else sim.ids.make("lt")
    )
    name = controljson.text(spec, "name", f"template-{template_id}")
    return references.LaunchTemplate(template_id, name, list(versions))


def _named(kind: str, spec: Body) -> references.Named:
    version = "" if kind == references.SSM_PARAMETER else controljson.text(spec, "version", "1.0.0")
    return references.Named(
        kind, controljson.text(spec, "name"), controljson.text(spec, "ami_id"), version
    )


async def list_references(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """GET /_sim/references."""
    book = sim.references
    out: dict[str, list[dict[str, Any]]] = {
        "instances": [dataclasses.asdict(i) for i in book.instances.values()],
        "launch_templates": [dataclasses.asdict(t) for t in book.launch_templates.values()],
    }
    for key, kind in NAMED_KINDS.items():
        out[key] = [dataclasses.asdict(n) for n in book.named.values() if n.kind == kind]
    return out


async def add_references(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/references: add instances, launch templates, parameters and recipes."""
    instances = [_instance(sim, s) for s in _specs(body, "instances")]
    templates = [_template(sim, s) for s in _specs(body, "launch_templates")]
    named = [_named(kind, s) for key, kind in NAMED_KINDS.items() for s in _specs(body, key)]
    book = sim.references
    book.instances.update({i.instance_id: i for i in instances})
    book.launch_templates.update({t.launch_template_id: t for t in templates})
    book.named.update({_named_key(n): n for n in named})
    return {
        "instances": [dataclasses.asdict(i) for i in instances],
        "launch_templates": [dataclasses.asdict(t) for t in templates],
        "named": [dataclasses.asdict(n) for n in named],
    }


async def update_instance(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/references/instances/{instance_id} {"state"}."""
    instance = sim.references.instances.get(request.match_info["instance_id"])
    if instance is None:
        controljson.not_found("the account has no such instance")
    instance.state = controljson.choice(body.get("state"), "state", references.INSTANCE_STATES)
    return dataclasses.asdict(instance)


async def add_version(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/references/launch-templates/{launch_template_id} {"ami_id"}."""
    template = sim.references.launch_templates.get(request.match_info["launch_template_id"])
    if template is None:
        controljson.not_found("the account has no such launch template")
    template.versions.append(controljson.optional_text(body, "ami_id"))
    return {"launch_template_id": template.launch_template_id, "version": len(template.versions)}


async def remove_reference(sim: state.SimState, body: Body, request: web.Request) -> Any:
    """POST /_sim/references/remove {"kind", "id"}."""
    kind = controljson.choice(body.get("kind"), "kind", REMOVABLE)
    ident = controljson.text(body, "id")
    book = sim.references
    if kind == "instance":
        gone = book.instances.pop(ident, None) is not None
    elif kind == "launch-template":
        gone = book.launch_templates.pop(ident, None) is not None
    else:
        gone = book.named.pop((NAMED_BY_REMOVABLE[kind], ident), None) is not None
    if not gone:
        controljson.not_found(f"the account has no {kind} {ident}")
    return {"removed": True}


ROUTES: control_api.Routes = [
    ("GET", "/_sim/references", list_references),
    ("POST", "/_sim/references", add_references),
    ("POST", "/_sim/references/remove", remove_reference),
    ("POST", "/_sim/references/instances/{instance_id}", update_instance),
    ("POST", "/_sim/references/launch-templates/{launch_template_id}", add_version),
]
