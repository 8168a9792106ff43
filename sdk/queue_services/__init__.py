"""queue-services SDK: schedule SMS and email from Python app code.

>>> from queue_services import QueueService
>>> queue = QueueService(base_url="http://127.0.0.1:8000")  # doctest: +SKIP
"""

from queue_services._callbacks import (
    CallbackEvent,
    CallbackHandler,
    SignatureVerificationError,
    parse_callback,
    verify_signature,
)
from queue_services._client import (
    AsyncQueueService,
    AsyncQueueServiceProtocol,
    QueueService,
    QueueServiceProtocol,
)
from queue_services._config import NOT_GIVEN, NotGiven
from queue_services._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BacklogFullError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidSendTimeError,
    NotFoundError,
    PermissionDeniedError,
    QueueServiceError,
    RateLimitError,
    UnprocessableEntityError,
)
from queue_services._models import (
    BulkCancelResult,
    BulkItemResult,
    BulkScheduleResult,
    CancelResult,
    Channel,
    ChannelLimits,
    ChannelMetrics,
    ChannelRateLimits,
    EmailMessage,
    ErrorDetail,
    FieldError,
    Job,
    JobBatch,
    JobList,
    JobStatus,
    Metrics,
    Priority,
    RateLimitCheck,
    RateLimitDetail,
    RateLimitSummary,
    ResetResult,
    ScheduleResult,
    SmsMessage,
    WorkspaceLimits,
    WorkspaceRateLimits,
)
from queue_services._send_time import QuietHours, calculate_delay_ms, calculate_send_at
from queue_services._tracking import (
    InMemoryJobTracker,
    JobTracker,
    SqliteJobTracker,
    TrackedJob,
    areconcile,
    reconcile,
)
from queue_services._version import __version__

# Sorted plainly (tests/sdk/test_public_api.py checks it), not constants first as ruff would.
__all__ = [  # noqa: RUF022
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncQueueService",
    "AsyncQueueServiceProtocol",
    "AuthenticationError",
    "BacklogFullError",
    "BadRequestError",
    "BulkCancelResult",
    "BulkItemResult",
    "BulkScheduleResult",
    "CallbackEvent",
    "CallbackHandler",
    "CancelResult",
    "Channel",
    "ChannelLimits",
    "ChannelMetrics",
    "ChannelRateLimits",
    "ConflictError",
    "EmailMessage",
    "ErrorDetail",
    "FieldError",
    "InMemoryJobTracker",
    "InternalServerError",
    "InvalidSendTimeError",
    "Job",
    "JobBatch",
    "JobList",
    "JobStatus",
    "JobTracker",
    "Metrics",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "Priority",
    "QueueService",
    "QueueServiceError",
    "QueueServiceProtocol",
    "QuietHours",
    "RateLimitCheck",
    "RateLimitDetail",
    "RateLimitError",
    "RateLimitSummary",
    "ResetResult",
    "ScheduleResult",
    "SignatureVerificationError",
    "SmsMessage",
    "SqliteJobTracker",
    "TrackedJob",
    "UnprocessableEntityError",
    "WorkspaceLimits",
    "WorkspaceRateLimits",
    "__version__",
    "areconcile",
    "calculate_delay_ms",
    "calculate_send_at",
    "parse_callback",
    "reconcile",
    "verify_signature",
]

import contextlib as _contextlib

# Tracebacks and reprs read `queue_services.RateLimitError`, not the private module's name.
for _name in __all__:
    _value = globals()[_name]
    if hasattr(_value, "__module__") and not isinstance(_value, str):
        with _contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = "queue_services"
