"""The AWS boundary: request shapes, result conversion, error mapping, attempt hooks."""

from __future__ import annotations

import ast
import datetime
import http.server
import pathlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from amistore_operator.aws import ec2, errors
from amistore_operator.core import model
from botocore.stub import Stubber

from tests.unit.aws import stubs

R = model.PollErrorReason
AMI = "ami-0123456789abcdef0"
START = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[ec2.StoreTaskClient, Stubber]]:
    with stubs.stubbed(ec2.make_client("eu-west-1")) as pair:
        yield pair


def result(ami: str = AMI, state: str = "InProgress", **extra: Any) -> dict[str, Any]:
    return {"AmiId": ami, "StoreTaskState": state, **extra}


def test_client_config_is_explicit(aws_env: None) -> None:
    client = ec2.make_client("eu-west-1")
    config: Any = client.client.meta.config  # the stubs omit Config's attributes
    # Three HTTP attempts in all (botocore's "max_attempts" would count retries only).
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (5, 20)
    assert config.user_agent_extra is not None
    assert config.user_agent_extra.startswith("amistore-operator/")
    assert client.client.meta.region_name == "eu-west-1"


def test_describe_ids_sends_image_ids_only(
    stubbed: tuple[ec2.StoreTaskClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "describe_store_image_tasks",
        {
            "StoreImageTaskResults": [
                result(
                    TaskStartTime=START,
                    Bucket="bkt",
                    S3objectKey=f"{AMI}.bin",
                    ProgressPercentage=42,
                )
            ]
        },
        {"ImageIds": [AMI, "ami-00000000000000001"]},
    )
    tasks = client.describe_ids([AMI, "ami-00000000000000001"])
    assert tasks == [
        model.StoreTask(AMI, model.TaskState.IN_PROGRESS, 42, "bkt", f"{AMI}.bin", START, None)
    ]
    assert tasks[0].start_time is not None
    assert tasks[0].start_time.tzinfo is not None


def test_describe_ids_refuses_more_than_twenty(
    stubbed: tuple[ec2.StoreTaskClient, Stubber],
) -> None:
    client, _ = stubbed
    with pytest.raises(ValueError, match=r"1\.\.20"):
        client.describe_ids([f"ami-{i:017x}" for i in range(21)])
    with pytest.raises(ValueError, match=r"1\.\.20"):
        client.describe_ids([])


def test_describe_page_sends_filters_max_results_and_token(
    stubbed: tuple[ec2.StoreTaskClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "describe_store_image_tasks",
        {
            "StoreImageTaskResults": [result(state="Failed", StoreTaskFailureReason="boom")],
            "NextToken": "t2",
        },
        {
            "Filters": [
                {"Name": "task-state", "Values": ["Failed", "Completed"]},
                {"Name": "bucket", "Values": ["bkt"]},
            ],
            "MaxResults": 200,
        },
    )
    stubber.add_response(
        "describe_store_image_tasks",
        {"StoreImageTaskResults": []},
        {"Filters": [], "MaxResults": 200, "NextToken": "t2"},
    )
    tasks, token = client.describe_page(task_states=["Failed", "Completed"], bucket="bkt")
    assert token == "t2"
    assert tasks == [model.StoreTask(AMI, model.TaskState.FAILED, 0, failure_reason="boom")]
    assert client.describe_page(next_token="t2") == ([], None)


def test_results_without_ami_or_with_unknown_state_are_skipped(
    stubbed: tuple[ec2.StoreTaskClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "describe_store_image_tasks",
        {
            "StoreImageTaskResults": [
                {"StoreTaskState": "Completed"},
                result(state="Exploded"),
                result(state="Completed", ProgressPercentage=100),
            ]
        },
        {"ImageIds": [AMI]},
    )
    assert client.describe_ids([AMI]) == [model.StoreTask(AMI, model.TaskState.COMPLETED, 100)]


# --- the per-attempt hooks, end to end over HTTP on 127.0.0.1 ---------------

OK_BODY = f"""<?xml version="1.0" encoding="UTF-8"?>
<DescribeStoreImageTasksResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r1</requestId><storeImageTaskResultSet><item><amiId>{AMI}</amiId>
<storeTaskState>Completed</storeTaskState><progressPercentage>100</progressPercentage>
<bucket>bkt</bucket></item></storeImageTaskResultSet></DescribeStoreImageTasksResponse>"""
THROTTLE_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code>
<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r2</RequestID></Response>"""


def error_body(code: str, message: str) -> str:
    """An EC2 error response, as the Query API sends it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>r3</RequestID></Response>"
    )


class FakeEc2Server(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.replies: list[tuple[int, str]] = []
        self.requests: list[str] = []


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeEc2Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.requests.append(body)
        status, reply = self.server.replies.pop(0) if self.server.replies else (200, OK_BODY)
        data = reply.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server(
    aws_env: None, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEc2Server]:
    srv = FakeEc2Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{srv.server_address[1]}")
    yield srv
    srv.shutdown()
    srv.server_close()


class Observed:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, float]] = []

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        self.calls.append((region, operation, outcome, seconds))


def test_every_attempt_is_paid_and_observed(server: FakeEc2Server) -> None:
    paid: list[int] = []
    observed = Observed()
    client = ec2.make_client("eu-west-1", on_attempt=lambda: paid.append(1), metrics=observed)
    server.replies = [(503, THROTTLE_BODY)]  # one throttled attempt, then success
    tasks = client.describe_ids([AMI])
    assert [t.ami_id for t in tasks] == [AMI]
    assert len(server.requests) == 2
    assert "ImageId.1=" in server.requests[0]
    assert "MaxResults" not in server.requests[0]
    assert len(paid) == 2
    assert [c[:3] for c in observed.calls] == [
        ("eu-west-1", "DescribeStoreImageTasks", "throttled"),
        ("eu-west-1", "DescribeStoreImageTasks", "success"),
    ]
    assert all(c[3] >= 0 for c in observed.calls)


def test_retries_exhausted_raise_throttled(server: FakeEc2Server) -> None:
    observed = Observed()
    client = ec2.make_client("eu-west-1", metrics=observed)
    server.replies = [(503, THROTTLE_BODY)] * 3
    with pytest.raises(errors.AwsError) as info:
        client.describe_page(task_states=["InProgress"])
    assert info.value.reason is R.THROTTLED
    assert info.value.message == "Request limit exceeded."
    assert "AKIDEXAMPLE" not in str(info.value)
    assert [c[2] for c in observed.calls] == ["throttled"] * 3
    assert "MaxResults=200" in server.requests[0]
    assert "ImageId" not in server.requests[0]


def test_a_refused_budget_sends_nothing(server: FakeEc2Server) -> None:
    observed = Observed()

    def refuse() -> None:
        raise RuntimeError("budget closed")

    client = ec2.make_client("eu-west-1", on_attempt=refuse, metrics=observed)
    with pytest.raises(errors.AwsError):
        client.describe_ids([AMI])
    assert server.requests == []
    assert observed.calls == []


# What EC2 answers, as its API reference documents each error (code, HTTP status, message),
# the user-visible reason it must become, and how many attempts the call may spend: botocore
# retries throttling and 5xx answers (3 attempts in all), never a client error.
AWS_ANSWERS = [
    ("RequestLimitExceeded", 503, "Request limit exceeded.", R.THROTTLED, 3),
    ("UnauthorizedOperation", 403, "You are not authorized to perform this operation.",
     R.ACCESS_DENIED, 1),
    ("AuthFailure", 401, "AWS was not able to validate the provided access credentials",
     R.INVALID_CREDENTIALS, 1),
    ("RequestExpired", 400, "Request has expired.", R.INVALID_CREDENTIALS, 1),
    ("InvalidAMIID.NotFound", 400, f"The image id '[{AMI}]' does not exist",
     R.INVALID_IMAGE_ID, 1),
    ("InvalidAMIID.Malformed", 400, 'Invalid id: "ami-1"', R.INVALID_IMAGE_ID, 1),
    ("InternalError", 500, "An internal error has occurred.", R.AWS_UNAVAILABLE, 3),
    ("Unavailable", 503, "The server is overloaded and can't handle the request.",
     R.AWS_UNAVAILABLE, 3),
    ("InvalidParameterCombination", 400, "The parameter MaxResults cannot be used with ImageIds",
     R.INVALID_REQUEST, 1),
    # Codes this operator has never seen: a 5xx is AWS's trouble, a 4xx the request's.
    ("BrandNewOutage", 503, "Something new broke.", R.AWS_UNAVAILABLE, 3),
    ("BrandNewRule", 400, "Something new is not allowed.", R.INVALID_REQUEST, 1),
]  # fmt: skip


@pytest.mark.parametrize(("code", "status", "message", "reason", "attempts"), AWS_ANSWERS)
def test_what_ec2_answers_is_the_reason_users_see(
    server: FakeEc2Server,
    code: str,
    status: int,
    message: str,
    reason: model.PollErrorReason,
    attempts: int,
) -> None:
    server.replies = [(status, error_body(code, message))] * 3
    client = ec2.make_client("eu-west-1")
    with pytest.raises(errors.AwsError) as info:
        client.describe_ids([AMI])
    assert (info.value.reason, info.value.code, info.value.message) == (reason, code, message)
    assert len(server.requests) == attempts


def closed_port() -> int:
    """A loopback port nothing listens on."""
    srv = FakeEc2Server()
    port = srv.server_address[1]
    srv.server_close()
    return port


def test_an_unreachable_endpoint_is_unavailable_and_named(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", endpoint)
    observed = Observed()
    client = ec2.make_client("eu-west-1", metrics=observed)
    with pytest.raises(errors.AwsError) as info:
        client.describe_ids([AMI])
    assert info.value.reason is R.AWS_UNAVAILABLE
    assert endpoint in info.value.message
    assert observed.calls
    assert {c[2] for c in observed.calls} == {"connection_error"}


@pytest.fixture
def no_dns(no_backoff: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """AWS's host names do not resolve, as for a region AWS does not have (or no network)."""
    looked_up: list[str] = []
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".amazonaws.com"):
            looked_up.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def test_a_region_botocore_does_not_know_whose_endpoint_does_not_resolve_is_unknown(
    aws_env: None, no_dns: list[str]
) -> None:
    client = ec2.make_client("xx-nowhere-1")
    with pytest.raises(errors.AwsError) as info:
        client.describe_ids([AMI])
    assert info.value.reason == "UnknownRegion"
    assert "'xx-nowhere-1'" in info.value.message
    assert "https://ec2.xx-nowhere-1.amazonaws.com" in info.value.message
    assert set(no_dns) == {"ec2.xx-nowhere-1.amazonaws.com"}


def test_a_known_region_whose_endpoint_does_not_resolve_is_unavailable(
    aws_env: None, no_dns: list[str]
) -> None:
    client = ec2.make_client("eu-west-1")
    with pytest.raises(errors.AwsError) as info:
        client.describe_ids([AMI])
    assert info.value.reason is R.AWS_UNAVAILABLE
    assert "https://ec2.eu-west-1.amazonaws.com" in info.value.message
    assert set(no_dns) == {"ec2.eu-west-1.amazonaws.com"}


def test_an_unknown_region_at_an_unreachable_custom_endpoint_blames_the_endpoint(
    aws_env: None, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every region goes to AWS_ENDPOINT_URL_EC2: fixing the region would not help.
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", endpoint)
    with pytest.raises(errors.AwsError) as info:
        ec2.make_client("xx-nowhere-1").describe_ids([AMI])
    assert info.value.reason is R.AWS_UNAVAILABLE
    assert endpoint in info.value.message


def test_a_region_botocore_does_not_know_but_that_answers_is_polled(
    server: FakeEc2Server,
) -> None:
    # A region newer than this botocore still works wherever its endpoint answers.
    client = ec2.make_client("xx-nowhere-1")
    assert [t.ami_id for t in client.describe_ids([AMI])] == [AMI]
    server.replies = [(401, error_body("AuthFailure", "AWS was not able to validate"))]
    with pytest.raises(errors.AwsError) as info:
        client.describe_ids([AMI])
    assert info.value.reason is R.INVALID_CREDENTIALS


def test_only_the_aws_subpackage_imports_boto3() -> None:
    package = pathlib.Path(ec2.__file__).parents[1]
    importers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("boto3", "botocore") for n in names):
                importers.add(path.relative_to(package).as_posix())
    assert importers == {
        "aws/ec2.py",
        "aws/errors.py",
        "aws/credentials.py",
        "aws/rolecredentials.py",
        "aws/create.py",
        "aws/objects.py",
        "aws/images.py",
        "aws/restores.py",
    }
