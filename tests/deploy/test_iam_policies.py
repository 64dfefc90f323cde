"""The IAM policies: AWS's store and restore actions, S3 scoped to named buckets of one account,
and each policy against the calls its part of the operator makes."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import botocore
import botocore.session
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


# Restore (AmiRestore): its own policy, beside the export, verify and cleanup ones.
RESTORE_POLICY = tools.DEPLOY / "iam-policy-restore.json"
RESTORES_MODULE = tools.REPO / "operator" / "amistore_operator" / "aws" / "restores.py"
# The calls the operator makes for a restore, as the contract names them (and the IAM action
# each needs: HeadObject is authorized by s3:GetObject).
RESTORE_CALLS = {
    "ec2:CreateRestoreImageTask": "ec2:CreateRestoreImageTask",
    "ec2:DescribeImages": "ec2:DescribeImages",
    "ec2:DescribeSnapshots": "ec2:DescribeSnapshots",
    "ec2:DeregisterImage": "ec2:DeregisterImage",
    "s3:HeadObject": "s3:GetObject",
    "s3:RestoreObject": "s3:RestoreObject",
}
# AWS: "If the snapshots that make up the AMI are encrypted, or if your account is enabled for
# encryption by default, your IAM principal must have permission to use the KMS key"; an
# SSE-KMS bucket's key decrypts the object for S3.
RESTORE_KMS = {
    "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
}  # fmt: skip
# The describes and the restore call itself (no resource-level permissions worth a condition).
RESTORE_UNSCOPED = {
    "ec2:CreateRestoreImageTask", "ec2:DescribeImages", "ec2:DescribeSnapshots",
    "ec2:GetEbsEncryptionByDefault",
}  # fmt: skip


def restore_statements() -> dict[str, dict[str, Any]]:
    """The restore policy's statements by Sid (the file must be a valid policy document)."""
    policy = json.loads(RESTORE_POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert len(by_sid) == len(policy["Statement"]), "a Sid used twice"
    return by_sid


def restore_calls_in_source() -> set[str]:
    """`service:Operation` of every boto3 client method the restore module calls."""
    if not RESTORES_MODULE.is_file():
        pytest.fail(
            f"{RESTORES_MODULE.relative_to(tools.REPO)} not found: the restore policy is checked "
            "against the calls that module makes (boto3 client methods such as "
            "create_restore_image_task), so it must exist",
            pytrace=False,
        )
    return boto3_calls(RESTORES_MODULE.read_text())


def boto3_calls(source: str) -> set[str]:
    """`service:Operation` of every EC2 or S3 client method called in this Python source."""
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service in ("ec2", "s3"):
        for operation in session.get_service_model(service).operation_names:
            operations.setdefault(botocore.xform_name(operation), set()).add(
                f"{service}:{operation}"
            )
    called = {
        node.func.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    return {call for name in called & set(operations) for call in operations[name]}


def test_boto3_calls_finds_client_methods_and_nothing_else() -> None:
    source = (
        "def restore(self, s3, name):\n"
        "    self.client.create_restore_image_task(Bucket='b', ObjectKey='k', Name=name)\n"
        "    found = self.client.describe_images(Owners=['self'])['Images']\n"
        "    s3.head_object(Bucket='b', Key='k')\n"
        "    self._observe('RestoreObject', found)\n"
        "    return describe_snapshots(found)\n"  # a bare name: not a client method
    )
    assert boto3_calls(source) == {
        "ec2:CreateRestoreImageTask",
        "ec2:DescribeImages",
        "s3:HeadObject",
    }


def test_the_restore_module_makes_exactly_the_contracts_calls() -> None:
    assert restore_calls_in_source() == set(RESTORE_CALLS)


def test_restore_policy_grants_every_call_the_restore_module_makes() -> None:
    granted = {a for s in restore_statements().values() for a in actions(s)}
    needed = {RESTORE_CALLS.get(call, call) for call in restore_calls_in_source()}
    assert needed <= granted, f"not granted: {sorted(needed - granted)}"


def test_restore_policy_grants_what_aws_lists_for_restoring_and_the_operators_calls() -> None:
    statements = restore_statements().values()
    granted = [a for s in statements for a in actions(s)]
    # No action twice within a statement (kms:Decrypt is in both key statements: one per key).
    assert len(granted) == len({(a, s["Sid"]) for s in statements for a in actions(s)})
    # restoring reads the object (s3:GetObject) besides AWS's restore-only actions.
    assert set(granted) == (
        RESTORE_ONLY | {"s3:GetObject"} | set(RESTORE_CALLS.values()) | RESTORE_KMS
    )
    # Nothing for storing: the restore role cannot write, delete or list the bucket.
    assert not set(granted) & (AWS_STORE_AND_RESTORE - RESTORE_ONLY - {"s3:GetObject"})


def test_restore_policy_only_allows() -> None:
    for sid, statement in restore_statements().items():
        assert sid.startswith("AmiRestore")
        assert statement["Effect"] == "Allow", sid
        assert not {"NotAction", "NotResource", "Principal"} & set(statement)
        assert all("*" not in action for action in actions(statement)), sid


def test_restore_policy_scopes_what_iam_can_scope() -> None:
    by_actions = {frozenset(actions(s)): s for s in restore_statements().values()}
    tags = by_actions[frozenset({"ec2:CreateTags"})]
    assert tags["Resource"] == ["arn:aws:ec2:*::image/*", "arn:aws:ec2:*::snapshot/*"]
    # Tags only as part of the restore call, never on an existing resource.
    assert tags["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateRestoreImageTask"}}
    deregister = by_actions[frozenset({"ec2:DeregisterImage"})]
    assert deregister["Resource"] == "arn:aws:ec2:*::image/*"
    # Only an image of the account that carries the operator's restore tag.
    assert deregister["Condition"] == {
        "StringEquals": {"ec2:Owner": "111122223333"},
        "Null": {"aws:ResourceTag/amistore.io/restore-uid": "false"},
    }
    ebs = by_actions[
        frozenset({"ebs:StartSnapshot", "ebs:PutSnapshotBlock", "ebs:CompleteSnapshot"})
    ]
    assert ebs["Resource"] == "arn:aws:ec2:*::snapshot/*"
    objects = by_actions[frozenset({"s3:GetObject", "s3:RestoreObject"})]
    export_objects = next(s for s in statements() if "s3:GetObject" in actions(s))
    # The bucket's objects of one account, as the export policy names them.
    assert objects["Resource"] == export_objects["Resource"]
    assert objects["Condition"] == export_objects["Condition"]
    describe = by_actions[frozenset(RESTORE_UNSCOPED)]
    assert describe["Resource"] == "*"
    assert "Condition" not in describe


def test_restore_policy_uses_kms_keys_only_through_s3_and_ec2() -> None:
    kms = [s for s in restore_statements().values() if actions(s) & RESTORE_KMS]
    services = set()
    for statement in kms:
        assert actions(statement) <= RESTORE_KMS, statement["Sid"]
        [key] = as_list(statement["Resource"])
        assert re.fullmatch(r"arn:aws:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}", key), key
        [(operator, condition)] = statement["Condition"].items()
        assert operator == "StringEquals"
        assert set(condition) == {"kms:ViaService"}
        services.add(condition["kms:ViaService"].split(".")[0])
    assert services == {"s3", "ec2"}
    by_service = {s["Condition"]["StringEquals"]["kms:ViaService"].split(".")[0]: s for s in kms}
    # S3 decrypts an SSE-KMS object for the restore's read; EBS encrypts the new snapshots.
    assert actions(by_service["s3"]) == {"kms:Decrypt"}
    assert actions(by_service["ec2"]) == RESTORE_KMS
