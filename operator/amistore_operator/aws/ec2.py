"""The AWS boundary: the only module that imports boto3 or botocore.

One ``StoreTaskClient`` wraps one boto3 EC2 client for one region. Its methods
block (the poller runs them in worker threads). Every HTTP attempt, botocore's
own retries included, is paid for through ``on_attempt`` (the region's token
bucket) and reported to an ``Ec2CallObserver``; every failure comes out as one
``AwsError`` with a ``PollErrorReason``.
"""

from __future__ import annotations

import copy
import datetime
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import boto3.session
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

from amistore_operator import __version__
from amistore_operator.aws import ec2model, errors, imagemodel, restoremodel
from amistore_operator.core import model

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, StoreImageTaskResultTypeDef

logger = logging.getLogger(__name__)

OPERATION = "DescribeStoreImageTasks"
MAX_IDS_PER_CALL = 20
MAX_RESULTS = 200

_STATES = {state.lower(): model.TaskState(state) for state in model.AWS_TASK_STATES}


class Ec2CallObserver(Protocol):
    """Where per-attempt telemetry goes (``metrics.OperatorMetrics`` in production)."""

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None: ...


def to_store_task(raw: StoreImageTaskResultTypeDef | Mapping[str, Any]) -> model.StoreTask | None:
    """Convert one StoreImageTaskResult; None when it has no AMI or an unknown state."""
    ami_id = raw.get("AmiId")
    state = _STATES.get(str(raw.get("StoreTaskState", "")).lower())
    if not ami_id or state is None:
        logger.warning("ignoring a store task result without AMI or known state: %r", raw)
        return None
    start = raw.get("TaskStartTime")
    if isinstance(start, datetime.datetime):
        start = (
            start.replace(tzinfo=datetime.UTC)
            if start.tzinfo is None
            else start.astimezone(datetime.UTC)
        )
    else:
        start = None
    progress = raw.get("ProgressPercentage")
    return model.StoreTask(
        ami_id=str(ami_id),
        state=state,
        progress=max(0, min(100, int(progress))) if progress is not None else 0,
        bucket=raw.get("Bucket"),
        s3_object_key=raw.get("S3objectKey"),
        start_time=start,
        failure_reason=raw.get("StoreTaskFailureReason") or None,
    )


# The metrics' account label: fixed, or read at each attempt (the operator's own account,
# which STS may name only after the client was made).
AccountLabel = str | Callable[[], str]


class AttemptHooks:
    """botocore event handlers run once per HTTP attempt of ``operation``, in the calling thread."""

    def __init__(
        self,
        region: str,
        on_attempt: Callable[[], None] | None,
        metrics: Ec2CallObserver | None,
        account: AccountLabel = "",
        operation: str = OPERATION,
    ) -> None:
        self.region = region
        self._account = account
        self.operation = operation
        self.on_attempt = on_attempt
        self.metrics = metrics
        self._local = threading.local()

    def before_send(self, **kwargs: Any) -> None:
        """Pay for the attempt (may block this worker thread), then start its timer."""
        self._local.started = None
        if self.on_attempt is not None:
            self.on_attempt()
        self._local.started = time.perf_counter()

    def response_received(
        self,
        *,
        response_dict: Mapping[str, Any] | None = None,
        parsed_response: Mapping[str, Any] | None = None,
        exception: Exception | None = None,
        **kwargs: Any,
    ) -> None:
        """Count and time the attempt that ``before_send`` let through."""
        started: float | None = getattr(self._local, "started", None)
        self._local.started = None
        if started is None or self.metrics is None:
            return  # never sent (e.g. the budget hook refused): nothing left the process
        outcome = attempt_outcome(response_dict, parsed_response, exception)
        self.metrics.observe_ec2_call(
            self.region, self.operation, outcome, time.perf_counter() - started, self.account
        )

    @property
    def account(self) -> str:
        """The metrics' account label now (one read when it is called)."""
        return self._account() if callable(self._account) else self._account


def attempt_outcome(
    response_dict: Mapping[str, Any] | None,
    parsed_response: Mapping[str, Any] | None,
    exception: Exception | None,
) -> str:
    """success|throttled|client_error|server_error|connection_error|dry_run|capacity."""
    if exception is not None or response_dict is None:
        return "connection_error"
    status = int(response_dict.get("status_code", 0))
    if 200 <= status < 300:
        return "success"
    code = str(((parsed_response or {}).get("Error") or {}).get("Code", ""))
    if code in errors.THROTTLED_CODES or status == 429:
        return "throttled"
    if code == errors.DRY_RUN_OK:
        return "dry_run"
    if code in errors.CAPACITY_CODES:
        return "capacity"
    return "server_error" if status >= 500 else "client_error"


class StoreTaskClient:
    """Blocking DescribeStoreImageTasks calls for one region."""

    def __init__(self, region: str, client: EC2Client, endpoint: errors.Endpoint) -> None:
        self.region = region
        self.client = client
        self.endpoint = endpoint

    def describe_ids(self, image_ids: Sequence[str]) -> list[model.StoreTask]:
        """The latest store task of each AMI (1..20 IDs; AWS forbids MaxResults here)."""
        if not 1 <= len(image_ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"describe_ids takes 1..{MAX_IDS_PER_CALL} IDs, got {len(image_ids)}")
        try:
            response = self.client.describe_store_image_tasks(ImageIds=list(image_ids))
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        return _tasks(response.get("StoreImageTaskResults", []))

    def describe_page(
        self,
        *,
        task_states: Sequence[str] = (),
        bucket: str | None = None,
        max_results: int = MAX_RESULTS,
        next_token: str | None = None,
    ) -> tuple[list[model.StoreTask], str | None]:
        """One page of a filtered listing and the token of the next page (None: done)."""
        filters: list[FilterTypeDef] = []
        if task_states:
            filters.append({"Name": "task-state", "Values": list(task_states)})
        if bucket:
            filters.append({"Name": "bucket", "Values": [bucket]})
        try:
            if next_token:
                response = self.client.describe_store_image_tasks(
                    Filters=filters, MaxResults=max_results, NextToken=next_token
                )
            else:
                response = self.client.describe_store_image_tasks(
                    Filters=filters, MaxResults=max_results
                )
        except Exception as exc:
            raise errors.to_aws_error(exc, self.endpoint) from None
        token = response.get("NextToken") or None
        return _tasks(response.get("StoreImageTaskResults", [])), token


def _tasks(results: Sequence[StoreImageTaskResultTypeDef]) -> list[model.StoreTask]:
    return [task for task in map(to_store_task, results) if task is not None]


def client_config(read_timeout: float = 20.0) -> botocore.config.Config:
    """Retries, timeouts and user agent, set explicitly rather than inherited."""
    return botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=5,
        read_timeout=read_timeout,
        user_agent_extra=f"amistore-operator/{__version__}",
    )


def endpoint_of(session: boto3.session.Session, region: str, url: str) -> errors.Endpoint:
    """The endpoint a client for ``region`` calls, and whether botocore knows the region."""
    known = any(
        region in session.get_available_regions("ec2", partition)
        for partition in session.get_available_partitions()
    )
    return errors.Endpoint(region, url, known)


def make_client(
    region: str,
    *,
    session: boto3.session.Session | None = None,
    on_attempt: Callable[[], None] | None = None,
    metrics: Ec2CallObserver | None = None,
    read_timeout: float = 20.0,
    account: AccountLabel = "",
) -> StoreTaskClient:
    """A client for ``region`` and the attempt hooks (``account``: the metrics' label).

    Without ``session``, a new one with boto3's default credential chain;
    ``credentials.Identities`` hands in an account's shared session.
    """
    if session is None:
        session = new_session()
    client = session.client("ec2", region_name=region, config=client_config(read_timeout))
    hooks = AttemptHooks(region, on_attempt, metrics, account)
    events = client.meta.events
    events.register(f"before-send.ec2.{OPERATION}", hooks.before_send)
    events.register(f"response-received.ec2.{OPERATION}", hooks.response_received)
    return StoreTaskClient(region, client, endpoint_of(session, region, client.meta.endpoint_url))


class _OneOperationLoader(botocore.loaders.Loader):
    """botocore's loader, except that EC2's model is the subset the operator calls: export's
    (``ec2model``), cleanup's (``imagemodel``) and restore's (``restoremodel``)."""

    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        if service_name == ec2model.SERVICE and type_name == "service-2":
            return restoremodel.merged(imagemodel.merged(copy.deepcopy(ec2model.MODEL)))
        return super().load_service_model(service_name, type_name, api_version)


def new_session() -> boto3.session.Session:
    """A boto3 session (the default credential chain) whose EC2 model costs ~25 MiB less."""
    core = botocore.session.get_session()
    data_path = core.get_config_variable("data_path")
    extra = data_path.split(os.pathsep) if data_path else []
    core.register_component("data_loader", _OneOperationLoader(extra_search_paths=extra))
    return boto3.session.Session(botocore_session=core)
