"""The export-mode IAM policy: AWS's store actions, S3 scoped to named buckets of one account."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy import tools

EXPORT_POLICY = tools.DEPLOY / "iam-policy-export.json"
# "Permissions for storing and restoring AMIs using S3" (EC2 User Guide): AWS's one list for
# both jobs, and the part of it that only restoring uses (restore's own call, the EBS write
# APIs that build the new snapshots, tagging the restored AMI, the account's encryption
# default for those snapshots). The export policy grants the list minus the restore part.
AWS_STORE_AND_RESTORE = {
    "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging",
    "s3:AbortMultipartUpload", "ebs:CompleteSnapshot", "ebs:GetSnapshotBlock",
    "ebs:ListChangedBlocks", "ebs:ListSnapshotBlocks", "ebs:PutSnapshotBlock",
    "ebs:StartSnapshot", "ec2:CreateStoreImageTask", "ec2:DescribeStoreImageTasks",
    "ec2:CreateRestoreImageTask", "ec2:GetEbsEncryptionByDefault", "ec2:DescribeTags",
    "ec2:CreateTags",
}  # fmt: skip
RESTORE_ONLY = {
    "ec2:CreateRestoreImageTask", "ebs:StartSnapshot", "ebs:PutSnapshotBlock",
    "ebs:CompleteSnapshot", "ec2:CreateTags", "ec2:GetEbsEncryptionByDefault",
}  # fmt: skip
# s3:ListBucket acts on the bucket ARN; every other S3 action here on its objects.
BUCKET_ACTIONS = {"s3:ListBucket"}


def statements() -> list[dict[str, Any]]:
    """The export policy's statements (the file must be a valid policy document)."""
    policy = json.loads(EXPORT_POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    found: list[dict[str, Any]] = policy["Statement"]
    return found


def as_list(value: str | list[str]) -> list[str]:
    """An IAM field that may be one string or a list of them, as a list."""
    return [value] if isinstance(value, str) else value


def actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement["Action"]))


def test_export_policy_grants_what_aws_lists_for_storing() -> None:
    granted = [action for statement in statements() for action in actions(statement)]
    assert len(granted) == len(set(granted)), "an action granted twice"
    assert set(granted) == AWS_STORE_AND_RESTORE - RESTORE_ONLY


def test_export_policy_only_allows() -> None:
    for statement in statements():
        assert statement["Effect"] == "Allow", statement["Sid"]
        assert statement["Sid"].startswith("AmiStoreExport")
        assert not {"NotAction", "NotResource", "Principal"} & set(statement)
        assert all("*" not in action for action in actions(statement)), statement["Sid"]


@pytest.mark.parametrize(
    "statement",
    [s for s in statements() if any(a.startswith("s3:") for a in actions(s))],
    ids=lambda s: str(s["Sid"]),
)
def test_s3_is_scoped_to_named_buckets_of_one_account(statement: dict[str, Any]) -> None:
    # Bucket names are global: a bucket ARN alone could be someone else's bucket.
    assert all(action.startswith("s3:") for action in actions(statement))
    condition = statement["Condition"]
    assert set(condition) == {"StringEquals"}
    account = condition["StringEquals"]["s3:ResourceAccount"]
    assert isinstance(account, str)
    assert re.fullmatch(r"[0-9]{12}", account), account
    for arn in as_list(statement["Resource"]):
        bucket, _, key = arn.removeprefix("arn:aws:s3:::").partition("/")
        assert arn.startswith("arn:aws:s3:::"), arn
        assert bucket, arn
        assert "*" not in bucket, arn  # a placeholder name to replace, never every bucket
        if actions(statement) <= BUCKET_ACTIONS:
            assert not key, arn
        else:
            assert key == "*", arn  # the AMI objects (ami-....bin) inside that bucket
    assert actions(statement) <= BUCKET_ACTIONS or not actions(statement) & BUCKET_ACTIONS


def test_non_s3_statements_name_no_bucket() -> None:
    for statement in statements():
        if any(action.startswith("s3:") for action in actions(statement)):
            continue
        assert "Condition" not in statement
        assert not any(arn.startswith("arn:aws:s3:") for arn in as_list(statement["Resource"]))


def test_both_s3_statements_name_the_same_buckets_and_account() -> None:
    s3 = [s for s in statements() if any(a.startswith("s3:") for a in actions(s))]
    buckets = [
        {arn.removeprefix("arn:aws:s3:::").partition("/")[0] for arn in as_list(s["Resource"])}
        for s in s3
    ]
    accounts = {s["Condition"]["StringEquals"]["s3:ResourceAccount"] for s in s3}
    assert len(s3) == 2
    assert buckets[0] == buckets[1]
    assert len(accounts) == 1


def test_verify_policy_grants_head_object_alone_scoped_like_export() -> None:
    # HeadObject (verifyObjects) is authorized by s3:GetObject; nothing else is called.
    policy = json.loads((tools.DEPLOY / "iam-policy-verify.json").read_text())
    assert policy["Version"] == "2012-10-17"
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert actions(statement) == {"s3:GetObject"}
    assert statement["Condition"] == {"StringEquals": {"s3:ResourceAccount": "111122223333"}}
    assert all(arn.endswith("/*") for arn in as_list(statement["Resource"]))


# What afterExport's cleanup calls: the describes (no resource-level permissions in IAM),
# DeregisterImage, the DeleteSnapshot its DeleteAssociatedSnapshots needs, and HeadObject.
CLEANUP_DESCRIBES = {
    "ec2:DescribeImages", "ec2:DescribeImageAttribute", "ec2:DescribeImageReferences",
    "ec2:DescribeSnapshots",
}  # fmt: skip


def test_cleanup_policy_grants_what_the_cleanup_calls_scoped_where_iam_allows() -> None:
    policy = json.loads((tools.DEPLOY / "iam-policy-cleanup.json").read_text())
    assert policy["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert len(by_sid) == len(policy["Statement"])
    for sid, statement in by_sid.items():
        assert sid.startswith("AmiStoreCleanup")
        assert statement["Effect"] == "Allow", sid
        assert not {"NotAction", "NotResource", "Principal"} & set(statement)
    granted = [a for s in by_sid.values() for a in actions(s)]
    assert len(granted) == len(set(granted)), "an action granted twice"
    assert set(granted) == CLEANUP_DESCRIBES | {
        "ec2:DeregisterImage",
        "ec2:DeleteSnapshot",
        "s3:GetObject",
    }
    [describe] = [s for s in by_sid.values() if actions(s) == CLEANUP_DESCRIBES]
    assert describe["Resource"] == "*"
    assert "Condition" not in describe
    [deregister] = [s for s in by_sid.values() if actions(s) == {"ec2:DeregisterImage"}]
    assert deregister["Resource"] == "arn:aws:ec2:*::image/*"
    assert deregister["Condition"] == {"StringEquals": {"ec2:Owner": "111122223333"}}
    [snapshots] = [s for s in by_sid.values() if actions(s) == {"ec2:DeleteSnapshot"}]
    assert snapshots["Resource"] == "arn:aws:ec2:*::snapshot/*"
    [head] = [s for s in by_sid.values() if actions(s) == {"s3:GetObject"}]
    verify = json.loads((tools.DEPLOY / "iam-policy-verify.json").read_text())
    [verify_statement] = verify["Statement"]
    # HeadObject as verifyObjects asks for it: the same bucket objects of the same account.
    assert head["Resource"] == verify_statement["Resource"]
    assert head["Condition"] == verify_statement["Condition"]
