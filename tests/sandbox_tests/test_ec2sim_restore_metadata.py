"""HeadObject through real boto3 shows the stored AMI's name as user metadata ``ami-name``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim
from tests.sandbox_tests.restoring import AMI, BUCKET, KEY, NOW, s3_client, stored


@pytest.fixture
def s3(sim: ThreadedEc2Sim) -> Any:
    return s3_client(sim.url)


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(NOW, frozen=True)
    return ctl


def test_a_stored_amis_object_records_its_name(ctl: Ec2SimControl, s3: Any) -> None:
    stored(ctl, name="golden-web (v1)")
    ctl.update_image(AMI, name="golden-web (v2)")  # renamed after the store: the object keeps v1
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"] == {"ami-name": "golden-web (v1)"}
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-ami-name"] == "golden-web (v1)"


def test_an_amis_default_name_is_recorded_too(ctl: Ec2SimControl, s3: Any) -> None:
    stored(ctl)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Metadata"] == {"ami-name": f"image-{AMI}"}


def test_an_object_no_store_task_wrote_records_no_name(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.update_object(BUCKET, "other.bin", create=True)
    assert s3.head_object(Bucket=BUCKET, Key="other.bin")["Metadata"] == {}
