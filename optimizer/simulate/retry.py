"""Batch's retry strategy: `attempts` (1-10) and `evaluateOnExit`, evaluated exactly as Batch does.

Batch checks the conditions in order; the first whose every given pattern matches decides RETRY
or EXIT. If none matches, the job is retried while attempts remain. Patterns match from the
start and may end with `*` (a prefix); `onExitCode` never matches an attempt without an exit
code, such as one whose host was reclaimed ("Host EC2 (instance i-...) terminated.").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimizer.errors import ConfigError

RECLAIM_REASON_PREFIX = "Host EC2 (instance "
FARGATE_SPOT_REASON = "Your Spot Task was interrupted."
CONTAINER_EXIT_REASON = "Essential container in task exited"


def reclaim_status_reason(instance_id: str) -> str:
    """The statusReason Batch gives an attempt whose spot host was reclaimed."""
    return f"{RECLAIM_REASON_PREFIX}{instance_id}) terminated."


def _matches(pattern: str | None, value: str | None) -> bool:
    """Glob match as Batch does it: exact, or a prefix when the pattern ends with `*`."""
    if pattern is None:
        return True
    if value is None:
        return False
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


@dataclass(frozen=True)
class ExitCondition:
    """One `evaluateOnExit` entry."""

    action: str  # RETRY | EXIT
    on_status_reason: str | None = None
    on_reason: str | None = None
    on_exit_code: str | None = None

    def matches(self, status_reason: str | None, reason: str | None, exit_code: int | None) -> bool:
        # A missing reason is an empty string (so the common catch-all `onReason: "*"` matches it);
        # a missing exit code matches no `onExitCode` pattern.
        code = None if exit_code is None else str(exit_code)
        return (
            _matches(self.on_status_reason, status_reason or "")
            and _matches(self.on_reason, reason or "")
            and _matches(self.on_exit_code, code)
        )


@dataclass(frozen=True)
class RetryStrategy:
    """How many attempts a job gets and which failures are worth another one."""

    attempts: int = 1
    evaluate_on_exit: tuple[ExitCondition, ...] = ()

    def should_retry(
        self, attempts_done: int, status_reason: str | None, reason: str | None, exit_code: int | None
    ) -> bool:
        """Whether Batch would start another attempt after `attempts_done` attempts ended this way."""
        if attempts_done >= self.attempts:
            return False
        for condition in self.evaluate_on_exit:
            if condition.matches(status_reason, reason, exit_code):
                return condition.action == "RETRY"
        return True

    @classmethod
    def from_api(cls, data: dict[str, Any] | None, where: str = "retryStrategy") -> RetryStrategy:
        """Parse a Batch `retryStrategy` object; bad values raise ConfigError naming the field."""
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected an object")
        attempts = data.get("attempts", 1)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise ConfigError(f"{where}.attempts: must be an integer from 1 to 10, got {attempts!r}")
        conditions = []
        entries = data.get("evaluateOnExit") or []
        if not isinstance(entries, list) or len(entries) > 5:
            raise ConfigError(f"{where}.evaluateOnExit: must be a list of at most 5 conditions")
        for index, entry in enumerate(entries):
            here = f"{where}.evaluateOnExit[{index}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{here}: expected an object")
            action = str(entry.get("action", "")).upper()
            if action not in ("RETRY", "EXIT"):
                raise ConfigError(f"{here}.action: must be RETRY or EXIT, got {entry.get('action')!r}")
            patterns = {}
            for key in ("onStatusReason", "onReason", "onExitCode"):
                value = entry.get(key)
                if value is not None and not isinstance(value, str):
                    raise ConfigError(f"{here}.{key}: must be a string pattern")
                patterns[key] = value
            conditions.append(
                ExitCondition(
                    action=action,
                    on_status_reason=patterns["onStatusReason"],
                    on_reason=patterns["onReason"],
                    on_exit_code=patterns["onExitCode"],
                )
            )
        return cls(attempts=attempts, evaluate_on_exit=tuple(conditions))
