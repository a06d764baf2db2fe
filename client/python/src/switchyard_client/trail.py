"""Human-readable rendering of attempt trails."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from switchyard.v1 import switchyard_pb2 as pb

__all__ = ["format_attempt", "format_trail"]


def _enum_name(enum: Any, prefix: str, value: int) -> str:
    try:
        name: str = enum.Name(value)
        return name.removeprefix(prefix).lower()
    except ValueError:  # a value newer than this client
        return str(value)


def format_attempt(index: int, attempt: pb.Attempt) -> str:
    """One step: ``#i provider/model [credential] class status -> action: reason``."""
    target = f"{attempt.provider}/{attempt.model}" if attempt.provider else "-"
    credential = f" [{attempt.credential_id}]" if attempt.credential_id else ""
    error_class = _enum_name(pb.ErrorClass, "ERROR_CLASS_", attempt.error_class)
    error_class = "" if error_class == "none" else f" {error_class}"
    status = f" {attempt.http_status}" if attempt.http_status else ""
    action = _enum_name(pb.Action, "ACTION_", attempt.action)
    return f"  #{index} {target}{credential}{error_class}{status} -> {action}: {attempt.reason}"


def format_trail(attempts: Any) -> str:
    """One line per attempt, in order, the same layout as the Rust client's trail.

    `attempts` is an iterable of `switchyard.v1.Attempt`, or anything holding one:
    a response (``.attempts``), an `ExplainFallbackResponse` (``.steps``) or a
    `SwitchyardError` (``.attempts``). Returns the lines joined by newlines, without a
    trailing one, so ``print(format_trail(response))`` prints the trail.
    """
    if hasattr(attempts, "attempts"):
        attempts = attempts.attempts
    elif hasattr(attempts, "steps"):
        attempts = attempts.steps
    steps: Iterable[pb.Attempt] = attempts
    return "\n".join(format_attempt(i, a) for i, a in enumerate(steps))
