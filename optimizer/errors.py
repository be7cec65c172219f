"""Errors that the CLI turns into one clear line and a non-zero exit instead of a traceback.

Every layer raises these for problems a user can fix (bad input file, bad setting, unmigrated
store); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message is printed as is, one line per problem."""

    exit_code = 2


class InputError(UserError):
    """Malformed input: the message names the file, line or field that is wrong."""


class ConfigError(UserError):
    """A setting is invalid; the message has one line per bad field."""


class StoreNotReadyError(UserError):
    """The database has not been migrated to the schema this version needs."""


class RefusedError(UserError):
    """A guarded action (apply, rollback) was refused; nothing was changed."""

    exit_code = 3
