"""The account map: parsing the admin's file (as loaded YAML) and the namespace decision."""

from __future__ import annotations

from typing import Any

import pytest
from amistore_operator.core import accounts

ROLE_A = "arn:aws:iam::111111111111:role/amistore-operator"
ROLE_B = "arn:aws:iam::222222222222:role/path/amistore"


def _map(**extra: Any) -> dict[str, Any]:
    return {
        "accounts": {
            "111111111111": {"roleArn": ROLE_A, "namespaces": ["team-a", "team-b"]},
            "222222222222": {"roleArn": ROLE_B, "externalId": "x-42", "namespaces": ["*"]},
        },
        **extra,
    }


def test_parses_accounts_roles_external_ids_and_namespaces() -> None:
    parsed = accounts.parse(_map())
    a, b = parsed.accounts["111111111111"], parsed.accounts["222222222222"]
    assert (a.role_arn, a.external_id, a.namespaces) == (ROLE_A, None, ("team-a", "team-b"))
    assert (b.role_arn, b.external_id, b.namespaces) == (ROLE_B, "x-42", ("*",))
    assert parsed.default_namespaces == ("*",)  # absent: every namespace, as without a map


def test_the_decision() -> None:
    parsed = accounts.parse(_map(defaultNamespaces=["team-a"]))
    assert parsed.denial("team-a", "111111111111") is None
    assert parsed.denial("team-b", "111111111111") is None
    assert parsed.denial("anyone", "222222222222") is None  # "*"
    assert parsed.denial("team-a", "") is None  # the operator's own identity
    assert parsed.denial("team-c", "111111111111") == (
        'namespace "team-c" may not use account 111111111111 (not among its namespaces in '
        "the operator's account map)"
    )
    assert parsed.denial("team-a", "333333333333") == (
        "account 333333333333 is not in the operator's account map"
    )
    assert parsed.denial("team-b", "") == (
        'namespace "team-b" may not use the operator\'s own AWS identity (not in '
        "defaultNamespaces of the operator's account map); set spec.account"
    )


def test_without_a_map_only_the_own_identity_is_allowed() -> None:
    assert accounts.NO_MAP.denial("anyone", "") is None
    assert accounts.NO_MAP.denial("anyone", "111111111111") == (
        "account 111111111111 is not in the operator's account map"
    )


def test_an_empty_default_list_denies_the_own_identity_to_everyone() -> None:
    parsed = accounts.parse(_map(defaultNamespaces=[]))
    assert parsed.denial("team-a", "") is not None


def test_lookup() -> None:
    parsed = accounts.parse(_map())
    assert parsed.entry("222222222222") == accounts.AccountEntry(
        "222222222222", ROLE_B, "x-42", ("*",)
    )
    assert parsed.entry("333333333333") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nope", "the account map must be a mapping with an accounts key, got a string"),
        ({}, "accounts: required (a mapping of account ID to role)"),
        ({"accounts": []}, "accounts: must be a mapping of account ID to role, got a list"),
        ({"accounts": {}, "extra": 1}, 'unknown key "extra" (accounts, defaultNamespaces)'),
        (
            {"accounts": {"12345": {"roleArn": ROLE_A, "namespaces": ["a"]}}},
            'accounts: "12345" is not an account ID (12 digits; quote it in YAML)',
        ),
        (
            {"accounts": {111111111111: {"roleArn": ROLE_A, "namespaces": ["a"]}}},
            'accounts: "111111111111" is not an account ID (12 digits; quote it in YAML)',
        ),
        (
            {"accounts": {"111111111111": {"namespaces": ["a"]}}},
            "accounts.111111111111.roleArn: required",
        ),
        (
            {"accounts": {"111111111111": {"roleArn": "arn:aws:iam::1:user/x", "namespaces": []}}},
            'accounts.111111111111.roleArn: "arn:aws:iam::1:user/x" is not an IAM role ARN '
            "(arn:aws:iam::ACCOUNT:role/NAME)",
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_B, "namespaces": ["a"]}}},
            "accounts.111111111111.roleArn: the role is in account 222222222222, not 111111111111",
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_A}}},
            'accounts.111111111111.namespaces: required (a list of namespaces, or ["*"])',
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_A, "namespaces": "team-a"}}},
            "accounts.111111111111.namespaces: must be a list, got a string",
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_A, "namespaces": ["Team_A"]}}},
            'accounts.111111111111.namespaces[0]: "Team_A" is not a namespace name',
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_A, "namespaces": ["*", "a"]}}},
            'accounts.111111111111.namespaces: "*" stands alone (every namespace)',
        ),
        (
            {
                "accounts": {
                    "111111111111": {"roleArn": ROLE_A, "namespaces": ["a"], "externalId": 7}
                }
            },
            "accounts.111111111111.externalId: must be a string of 2 to 1224 characters",
        ),
        (
            {"accounts": {"111111111111": {"roleArn": ROLE_A, "namespaces": ["a"], "x": 1}}},
            'accounts.111111111111: unknown key "x" (roleArn, externalId, namespaces)',
        ),
        (
            {"accounts": {}, "defaultNamespaces": "*"},
            "defaultNamespaces: must be a list, got a string",
        ),
    ],
)
def test_errors_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(accounts.AccountMapError) as caught:
        accounts.parse(data)
    assert str(caught.value) == message


def test_other_partitions_roles() -> None:
    role = "arn:aws-us-gov:iam::111111111111:role/amistore"
    data = {"accounts": {"111111111111": {"roleArn": role, "namespaces": ["a"]}}}
    assert accounts.parse(data).accounts["111111111111"].role_arn == role
