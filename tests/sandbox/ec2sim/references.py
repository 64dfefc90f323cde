"""An account's resources that name AMIs, as DescribeImageReferences finds them.

Instances (with their state), launch templates (each version names an AMI; the
newest versions are searched, ``version-depth`` of them), SSM parameters whose
value is an AMI ID, and Image Builder image and container recipes whose parent
image is an AMI. Each account sees only its own, which is AWS's documented limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

INSTANCE, LAUNCH_TEMPLATE, SSM_PARAMETER = "ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter"
IMAGE_RECIPE, CONTAINER_RECIPE = "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe"
RESOURCE_TYPES = (INSTANCE, LAUNCH_TEMPLATE, SSM_PARAMETER, IMAGE_RECIPE, CONTAINER_RECIPE)
INSTANCE_STATES = ("pending", "running", "shutting-down", "terminated", "stopping", "stopped")
VERSION_DEPTH_DEFAULT = 10
VERSION_DEPTH_RANGE = (1, 10_000)
"""AWS's ResourceTypeOption: version-depth is 1 to 10000, 10 by default."""


@dataclasses.dataclass
class Instance:
    """An EC2 instance launched from an AMI."""

    instance_id: str
    ami_id: str
    state: str = "running"


@dataclasses.dataclass
class LaunchTemplate:
    """A launch template; ``versions[n]`` is version n + 1's AMI (None: version names none)."""

    launch_template_id: str
    name: str
    versions: list[str | None] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Named:
    """An SSM parameter or an Image Builder recipe: a name (and version) naming one AMI."""

    kind: str
    name: str
    ami_id: str
    version: str = ""


@dataclasses.dataclass(frozen=True)
class Found:
    """One ImageReference."""

    ami_id: str
    resource_type: str
    arn: str


def partition(region: str) -> str:
    """The ARN partition of a region."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class ReferenceBook:
    """One account's referencing resources."""

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.launch_templates: dict[str, LaunchTemplate] = {}
        self.named: dict[tuple[str, str], Named] = {}
        """(kind, name or name/version) -> the SSM parameter or recipe."""

    def running_instances_of(self, ami_id: str) -> bool:
        """Whether an instance not yet terminated was launched from the AMI."""
        return any(i.ami_id == ami_id and i.state != "terminated" for i in self.instances.values())

    def find(
        self,
        ami_ids: Iterable[str],
        types: dict[str, dict[str, list[str]]],
        account: str,
        region: str,
    ) -> list[Found]:
        """References to the AMIs of the resource types asked for, with their options.

        ``types`` maps each resource type to its options (``state-name`` values,
        ``version-depth`` as a one-value list). Ordered by AMI as asked, then type.
        """
        base = f"arn:{partition(region)}:{{service}}:{region}:{account}:"
        found: list[Found] = []
        for ami_id in dict.fromkeys(ami_ids):
            for kind, options in types.items():
                for arn in self._arns(ami_id, kind, options):
                    service, _, rest = arn.partition(":")
                    found.append(Found(ami_id, kind, base.format(service=service) + rest))
        return found

    def _arns(self, ami_id: str, kind: str, options: dict[str, list[str]]) -> list[str]:
        """ARN tails (``service:resource``) of one type's references to one AMI."""
        if kind == INSTANCE:
            states = set(options.get("state-name") or INSTANCE_STATES)
            return [
                f"ec2:instance/{i.instance_id}"
                for i in self.instances.values()
                if i.ami_id == ami_id and i.state in states
            ]
        if kind == LAUNCH_TEMPLATE:
            depth = int((options.get("version-depth") or [str(VERSION_DEPTH_DEFAULT)])[0])
            return [
                f"ec2:launch-template/{t.launch_template_id}"
                for t in self.launch_templates.values()
                if ami_id in t.versions[-depth:]
            ]
        tails = []
        for named in self.named.values():
            if named.kind != kind or named.ami_id != ami_id:
                continue
            if kind == SSM_PARAMETER:
                tails.append(f"ssm:parameter/{named.name.lstrip('/')}")
            else:
                resource = "image-recipe" if kind == IMAGE_RECIPE else "container-recipe"
                tails.append(f"imagebuilder:{resource}/{named.name}/{named.version}")
        return sorted(tails)
