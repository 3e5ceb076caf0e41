"""One exception per failure useapi names, each with the sentence a person (or model) should read.

Nothing here keeps a request, its headers or the token: only the status, the upstream message and
the parsed body, so no repr or traceback can leak the Authorization header.
"""

from __future__ import annotations

from typing import Any


class FramesError(Exception):
    """Base class: `message` says what happened, `hint` says what to do next."""

    hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def describe(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(FramesError):
    pass


class MissingTokenError(ConfigurationError):
    def __init__(self) -> None:
        super().__init__(
            "No useapi.net API token is configured.",
            hint="Set USEAPI_TOKEN in the server's environment (the MCP client config's `env` block) to your "
            "useapi.net token, then restart the server; or start it with --demo to try it with simulated images.",
        )


class UseapiError(FramesError):
    """An HTTP error answer from useapi. `status_code` and `body` are kept; the request is not."""

    status_code: int = 0

    def __init__(
        self, message: str, *, status_code: int | None = None, body: Any = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        if status_code is not None:
            self.status_code = status_code
        self.body = body

    def describe(self) -> str:
        return f"useapi.net answered {self.status_code}: {self.message} {self.hint}".strip()


class BadRequestError(UseapiError):
    status_code = 400
    hint = "Fix the request as the message says and call again."


class UnauthorizedError(UseapiError):
    status_code = 401
    hint = (
        "The useapi.net token was refused. Check USEAPI_TOKEN in the server's environment (the whole "
        "`user:<number>-<string>` value) and restart the server."
    )


class SubscriptionExpiredError(UseapiError):
    status_code = 402
    hint = "The useapi.net subscription has expired: renew it at useapi.net, then try again."


class NotFoundError(UseapiError):
    status_code = 404
    hint = "No such task on this useapi.net account: check the taskId (list_tasks shows this server's tasks)."


class InsufficientCreditsError(UseapiError):
    status_code = 412
    hint = (
        "The Runway account is out of credits. Add credits, use another account (email), or, on an "
        "Unlimited plan, set exploreMode to true. Nothing was generated."
    )


class ModeratedError(UseapiError):
    status_code = 422
    hint = (
        "Runway's moderation refused the prompt. Rewrite it without the flagged content; do not resend it "
        "unchanged (repeated moderated prompts can get the account suspended)."
    )


class BusyError(UseapiError):
    """429: the account runs its maxJobs tasks already, or Runway throttles the account."""

    status_code = 429
    hint = "Every slot of the account is busy. Wait 10-30 seconds and call again."

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, hint=hint)
        self.retry_after = retry_after
        running = body.get("runningTasks") if isinstance(body, dict) else None
        self.running_tasks: dict[str, list[dict[str, Any]]] = running if isinstance(running, dict) else {}

    def running_task_ids(self) -> list[str]:
        return [
            str(t["taskId"])
            for tasks in self.running_tasks.values()
            if isinstance(tasks, list)
            for t in tasks
            if isinstance(t, dict) and "taskId" in t
        ]


class UpstreamError(UseapiError):
    """5xx: useapi or Runway failed."""

    status_code = 500
    hint = "useapi.net or Runway failed on its side. Try again in a minute."


class AccountSessionError(UpstreamError):
    status_code = 596
    hint = (
        "useapi.net's session with the Runway account is broken: re-add the account at useapi.net "
        "(POST /v1/runwayml/accounts/<email>), then try again."
    )


class InvalidResponseError(UseapiError):
    hint = "useapi.net sent something that is not the documented JSON. Try again in a minute."


class TransportError(FramesError):
    """The request did not complete: connection refused, reset, or timed out."""

    hint = "useapi.net could not be reached or did not answer in time. Try again in a minute."

    def __init__(self, message: str, *, sent: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        # False only when the request provably never left this machine: then a retry cannot pay twice.
        self.sent = sent


_BY_STATUS: dict[int, type[UseapiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    402: SubscriptionExpiredError,
    404: NotFoundError,
    412: InsufficientCreditsError,
    422: ModeratedError,
    429: BusyError,
    596: AccountSessionError,
}


def error_for_status(status: int, body: Any, retry_after: float | None = None) -> UseapiError:
    message = _upstream_message(body) or f"HTTP {status}"
    cls = _BY_STATUS.get(status)
    if cls is BusyError:
        return BusyError(message, status_code=status, body=body, retry_after=retry_after)
    if cls is not None:
        return cls(message, status_code=status, body=body)
    if status >= 500:
        return UpstreamError(message, status_code=status, body=body)
    return UseapiError(message, status_code=status, body=body, hint="Unexpected answer; try again later.")


def _upstream_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, str):
            return err[:500]
        if isinstance(err, dict):
            return str(err.get("message") or err.get("errorMessage") or err)[:500]
    return ""
