"""The port to the medical-insurance e-prescription centre (医保电子处方中心).

Eight operations that an institution calls, two notifications that the centre sends.
Paths, the ``version`` string, ``transType`` names and the status dictionaries differ
between regions, so all of them are a ``CentreProfile`` read from configuration; the
defaults follow the national interface as public clients use it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Operation(enum.StrEnum):
    """The centre's operations, named by the last segment of their default path."""

    UPLOAD_CHECK = "uploadChk"  # 上传预核验
    SIGN = "rxFixmedinsSign"  # 医保电子签名
    UPLOAD = "rxFileUpld"  # 上传
    UNDO = "rxUndo"  # 撤销
    DETAIL = "hospRxDetlQuery"  # 信息查询
    REVIEW_RESULT = "rxChkInfoQuery"  # 审核结果查询
    PICKUP_RESULT = "rxSetlInfoQuery"  # 取药结果查询
    DRUG_CATALOGUE = "circDrugQuery"  # 药品目录查询


OPERATION_TITLES: dict[Operation, str] = {
    Operation.UPLOAD_CHECK: "电子处方上传预核验",
    Operation.SIGN: "电子处方医保电子签名",
    Operation.UPLOAD: "电子处方上传",
    Operation.UNDO: "电子处方撤销",
    Operation.DETAIL: "电子处方信息查询",
    Operation.REVIEW_RESULT: "电子处方审核结果查询",
    Operation.PICKUP_RESULT: "电子处方取药结果查询",
    Operation.DRUG_CATALOGUE: "电子处方药品目录查询",
}

# Queries change nothing at the centre: safe to repeat after a timeout. The others are
# repeated only when the request cannot have reached the centre (connection refused).
IDEMPOTENT_OPERATIONS = frozenset(
    {Operation.DETAIL, Operation.REVIEW_RESULT, Operation.PICKUP_RESULT, Operation.DRUG_CATALOGUE}
)


class Notification(enum.StrEnum):
    """What the centre tells the institution, as the envelope's ``transType``."""

    REVIEW_RESULT = "rxChkInfoNotify"  # 审核结果通知
    PICKUP_RESULT = "rxSetlInfoNotify"  # 取药结果通知


NOTIFICATION_TITLES: dict[Notification, str] = {
    Notification.REVIEW_RESULT: "电子处方审核结果通知",
    Notification.PICKUP_RESULT: "电子处方取药结果通知",
}

# Status dictionaries. The national values were not published with the interface, so
# these are configuration; the simulator and the platform read the same profile.
DEFAULT_RX_STATUS = {"01": "有效", "02": "已撤销", "03": "已失效", "04": "撤销待确认"}
DEFAULT_RX_USED_STATUS = {"01": "未取药", "02": "已取药", "03": "药店结算中"}
DEFAULT_RX_REVIEW_STATUS = {"01": "待审核", "02": "审核通过", "03": "审核不通过"}

# Business answer codes of the centre (``code``; 0 is success).
CODE_OK = 0
CODE_INVALID_FIELD = 1001  # a required field is missing or malformed (message names it)
CODE_BAD_SIGNATURE = 1002  # signData does not verify
CODE_BAD_ENVELOPE = 1003  # encData does not decrypt, unknown appId, stale timestamp
CODE_UNKNOWN_DRUG = 2001  # a drug code outside the circulation catalogue
CODE_TRACE_CODE = 2002  # rxTraceCode unknown, used or expired
CODE_NOT_FOUND = 2003  # no such prescription (hiRxno) for this institution
CODE_WRONG_STATE = 2004  # the operation does not fit the prescription's state
CODE_ALREADY_DISPENSED = 3001  # revoke refused: the drugs were collected


@dataclass(frozen=True)
class CentreProfile:
    """Where and how to reach the centre: base URL, paths, version and dictionaries."""

    base_url: str
    version: str = "1.0.0"
    enc_type: str = "SM4"
    sign_type: str = "SM2"
    path_prefix: str = "/fixmedins"
    paths: Mapping[str, str] = field(default_factory=dict)
    rx_status: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_RX_STATUS))
    rx_used_status: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_RX_USED_STATUS))
    rx_review_status: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_RX_REVIEW_STATUS)
    )
    timeout_seconds: float = 10.0

    def path(self, operation: Operation) -> str:
        """The path of ``operation``: configured, else ``{path_prefix}/{operation}``."""
        return self.paths.get(operation.value) or f"{self.path_prefix}/{operation.value}"


@dataclass(frozen=True)
class CentreAnswer:
    """A verified answer: ``code`` 0 is success; envelopes kept for the journal."""

    operation: Operation
    code: int
    message: str
    data: dict[str, Any]
    request_envelope: dict[str, Any]
    response_envelope: dict[str, Any]
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return self.code == CODE_OK


class CentreError(Exception):
    """A call that produced no verified answer.

    ``retryable`` says whether the same call may be sent again; ``reached`` whether the
    centre may have acted on it (a read timeout), so a non-idempotent call must be
    reconciled with a query instead of sent blindly again. The envelopes, where there
    were any, are kept for the journal.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        reached: bool,
        request_envelope: Mapping[str, Any] | None = None,
        response_body: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.reached = reached
        self.request_envelope = dict(request_envelope or {})
        self.response_body = response_body


class ErxCentrePort(Protocol):
    """One institution's connection to the centre."""

    profile: CentreProfile

    def call(self, operation: Operation, data: Mapping[str, Any]) -> CentreAnswer:
        """Send one operation; raise CentreError when no verified answer came back."""
        ...
