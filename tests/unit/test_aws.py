"""The AWS boundary: request shapes, result conversion, error mapping, attempt hooks."""

from __future__ import annotations

import ast
import datetime
import http.server
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import botocore.retries.standard
import pytest
from amistore_operator import aws, model
from botocore.stub import Stubber

R = model.PollErrorReason
AMI = "ami-0123456789abcdef0"
START = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_EC2", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[aws.StoreTaskClient, Stubber]]:
    client = aws.make_client("eu-west-1")
    with Stubber(client.client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def result(ami: str = AMI, state: str = "InProgress", **extra: Any) -> dict[str, Any]:
    return {"AmiId": ami, "StoreTaskState": state, **extra}


def test_client_config_is_explicit(aws_env: None) -> None:
    client = aws.make_client("eu-west-1")
    config: Any = client.client.meta.config  # the stubs omit Config's attributes
    # Three HTTP attempts in all (botocore's "max_attempts" would count retries only).
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (5, 20)
    assert config.user_agent_extra is not None
    assert config.user_agent_extra.startswith("amistore-operator/")
    assert client.client.meta.region_name == "eu-west-1"


def test_describe_ids_sends_image_ids_only(
    stubbed: tuple[aws.StoreTaskClient, Stubber],
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
    stubbed: tuple[aws.StoreTaskClient, Stubber],
) -> None:
    client, _ = stubbed
    with pytest.raises(ValueError, match=r"1\.\.20"):
        client.describe_ids([f"ami-{i:017x}" for i in range(21)])
    with pytest.raises(ValueError, match=r"1\.\.20"):
        client.describe_ids([])


def test_describe_page_sends_filters_max_results_and_token(
    stubbed: tuple[aws.StoreTaskClient, Stubber],
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
    stubbed: tuple[aws.StoreTaskClient, Stubber],
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


@pytest.mark.parametrize(
    ("code", "status", "reason", "retryable"),
    [
        ("RequestLimitExceeded", 503, R.THROTTLED, True),
        ("Throttling", 400, R.THROTTLED, True),
        ("UnauthorizedOperation", 403, R.ACCESS_DENIED, False),
        ("AccessDenied", 403, R.ACCESS_DENIED, False),
        ("AccessDeniedException", 403, R.ACCESS_DENIED, False),
        ("AuthFailure", 401, R.INVALID_CREDENTIALS, False),
        ("RequestExpired", 400, R.INVALID_CREDENTIALS, False),
        ("ExpiredToken", 400, R.INVALID_CREDENTIALS, False),
        ("InvalidClientTokenId", 403, R.INVALID_CREDENTIALS, False),
        ("SignatureDoesNotMatch", 403, R.INVALID_CREDENTIALS, False),
        ("InvalidAMIID.Malformed", 400, R.INVALID_IMAGE_ID, False),
        ("InvalidAMIID.NotFound", 400, R.INVALID_IMAGE_ID, False),
        ("InvalidAMIID.Unavailable", 400, R.INVALID_IMAGE_ID, False),
        ("InternalError", 500, R.AWS_UNAVAILABLE, True),
        ("InternalFailure", 500, R.AWS_UNAVAILABLE, True),
        ("Unavailable", 503, R.AWS_UNAVAILABLE, True),
        ("ServiceUnavailable", 503, R.AWS_UNAVAILABLE, True),
        ("SomethingNew", 502, R.AWS_UNAVAILABLE, True),
        ("InvalidParameterValue", 400, R.INVALID_REQUEST, False),
        ("InvalidParameterCombination", 400, R.INVALID_REQUEST, False),
    ],
)
def test_error_codes_map_to_reasons(
    stubbed: tuple[aws.StoreTaskClient, Stubber],
    code: str,
    status: int,
    reason: model.PollErrorReason,
    retryable: bool,
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "describe_store_image_tasks", code, f"AWS says {code}", http_status_code=status
    )
    with pytest.raises(aws.AwsError) as info:
        client.describe_ids([AMI])
    error = info.value
    assert (error.reason, error.code, error.message, error.retryable) == (
        reason,
        code,
        f"AWS says {code}",
        retryable,
    )


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (botocore.exceptions.NoCredentialsError(), R.INVALID_CREDENTIALS),
        (
            botocore.exceptions.CredentialRetrievalError(provider="sts", error_msg="x"),
            R.INVALID_CREDENTIALS,
        ),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"), R.AWS_UNAVAILABLE),
        (ValueError("odd"), R.INVALID_REQUEST),
    ],
)
def test_botocore_exceptions_map_to_reasons(exc: Exception, reason: model.PollErrorReason) -> None:
    error = aws.to_aws_error(exc)
    assert error.reason is reason
    assert error.code == type(exc).__name__


# --- the per-attempt hooks, end to end over HTTP on 127.0.0.1 ---------------

OK_BODY = f"""<?xml version="1.0" encoding="UTF-8"?>
<DescribeStoreImageTasksResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
<requestId>r1</requestId><storeImageTaskResultSet><item><amiId>{AMI}</amiId>
<storeTaskState>Completed</storeTaskState><progressPercentage>100</progressPercentage>
<bucket>bkt</bucket></item></storeImageTaskResultSet></DescribeStoreImageTasksResponse>"""
THROTTLE_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code>
<Message>Request limit exceeded.</Message></Error></Errors><RequestID>r2</RequestID></Response>"""


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
def server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEc2Server]:
    # botocore's own backoff between retries would only slow these tests down.
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0
    )
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

    def observe_ec2_call(self, region: str, operation: str, outcome: str, seconds: float) -> None:
        self.calls.append((region, operation, outcome, seconds))


def test_every_attempt_is_paid_and_observed(server: FakeEc2Server) -> None:
    paid: list[int] = []
    observed = Observed()
    client = aws.make_client("eu-west-1", on_attempt=lambda: paid.append(1), metrics=observed)
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
    client = aws.make_client("eu-west-1", metrics=observed)
    server.replies = [(503, THROTTLE_BODY)] * 3
    with pytest.raises(aws.AwsError) as info:
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

    client = aws.make_client("eu-west-1", on_attempt=refuse, metrics=observed)
    with pytest.raises(aws.AwsError):
        client.describe_ids([AMI])
    assert server.requests == []
    assert observed.calls == []


def test_connection_errors_are_unavailable(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = FakeEc2Server()
    port = srv.server_address[1]
    srv.server_close()  # nothing listens there now
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{port}")
    observed = Observed()
    client = aws.make_client("eu-west-1", metrics=observed)
    with pytest.raises(aws.AwsError) as info:
        client.describe_ids([AMI])
    assert info.value.reason is R.AWS_UNAVAILABLE
    assert info.value.retryable
    assert observed.calls
    assert {c[2] for c in observed.calls} == {"connection_error"}


def test_only_aws_imports_boto3() -> None:
    package = pathlib.Path(aws.__file__).parent
    offenders = []
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("boto3", "botocore") for n in names):
                offenders.append(path.name)
    assert set(offenders) == {"aws.py"}
