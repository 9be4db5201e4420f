"""Exit codes of ``python -m imdsclient``: one table, the only source for ``--help`` and the docs.

Every :class:`~imdsclient.errors.IMDSError` class has its own code, so a script can tell "IMDS is
disabled for this instance" (12) from "nothing there" (15) from "not on EC2" (17) without parsing
messages.  A subclass without an entry of its own gets its nearest ancestor's code.
``tests/cli/test_docs.py`` checks that ``docs/cli.md`` shows exactly :func:`markdown_table`.
"""

from __future__ import annotations

from imdsclient.errors import (
    BadRequestError,
    ConfigError,
    CredentialsError,
    EndpointDisabledError,
    IdentityVerificationError,
    IMDSConnectionError,
    IMDSDisabledError,
    IMDSError,
    IMDSTimeoutError,
    InvalidPathError,
    MetadataNotFoundError,
    ThrottledError,
    UnauthorizedError,
)

__all__ = [
    "BROKEN_PIPE",
    "ERROR_CODES",
    "EXIT_CODES",
    "INTERRUPTED",
    "OK",
    "PROBLEM",
    "USAGE",
    "CommandError",
    "exit_code_for",
    "help_epilog",
    "markdown_table",
]

OK = 0
PROBLEM = 1
USAGE = 2
INTERRUPTED = 130
BROKEN_PIPE = 141

#: (error class, exit code, meaning): the one table. A subclass without a row of its own would
#: get its nearest ancestor's code. ``InvalidPathError`` is a usage error: it shares code 2.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (IMDSError, 10, "any other IMDS failure (unexpected status, redirect, unusable answer)"),
    (IMDSDisabledError, 11, "AWS_EC2_METADATA_DISABLED is true: nothing was sent"),
    (EndpointDisabledError, 12, "403: IMDS is disabled for this instance"),
    (BadRequestError, 13, "400: IMDS rejected the request as malformed"),
    (UnauthorizedError, 14, "401: token refused, or IMDSv2 required and no token obtainable"),
    (MetadataNotFoundError, 15, "404: nothing there (no role, no user-data, no tags, ...)"),
    (ThrottledError, 16, "429/503 until the retries ran out: IMDS is throttling"),
    (IMDSConnectionError, 17, "cannot connect: refused or no route (not on EC2, a REJECT rule)"),
    (IMDSTimeoutError, 18, "no answer in time: a DROP rule or not on EC2; or the hop limit"),
    (CredentialsError, 19, "role credentials missing, malformed, or Code is not Success"),
    (
        IdentityVerificationError,
        20,
        "identity --verify: the document or its signature did not verify",
    ),
    (InvalidPathError, USAGE, "a path that is not an IMDS path, or a role name that is not one"),
)

#: Error class → exit code.
ERROR_CODES: dict[type[Exception], int] = {cls: code for cls, code, _ in _ERRORS}

#: (code, cause, meaning), in code order: what ``--help`` and ``docs/cli.md`` show.
EXIT_CODES: tuple[tuple[int, str, str], ...] = (
    (OK, "success", "the command did what was asked"),
    (
        PROBLEM,
        "problem",
        "`doctor` found a problem, `serve` could not listen, stdout failed, or `completion` "
        "lacks shtab",
    ),
    (
        USAGE,
        "usage",
        "bad command line or a path the command does not take (`ls LEAF`), an invalid path "
        "(`InvalidPathError`) or setting (`ConfigError`)",
    ),
    *((code, cls.__name__, meaning) for cls, code, meaning in _ERRORS if code != USAGE),
    (INTERRUPTED, "interrupted", "Ctrl-C (SIGINT)"),
    (BROKEN_PIPE, "broken pipe", "stdout was closed early (e.g. output piped into `head`)"),
)


class CommandError(Exception):
    """A failure of the command line itself, not of IMDS (``ls`` of a value, a multi-line value
    among several, shtab missing): one message and its exit code (2 unless said)."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, CommandError):
        return exc.code
    for cls in type(exc).__mro__:
        code = ERROR_CODES.get(cls)
        if code is not None:
            return code
    if isinstance(exc, (ConfigError, ValueError)):
        return USAGE
    return PROBLEM


def help_epilog() -> str:
    """The exit code list at the end of ``--help``."""
    width = max(len(cause) for _, cause, _ in EXIT_CODES)
    lines = ["exit codes:"]
    lines += [f"  {code:>3}  {cause:<{width}}  {meaning}" for code, cause, meaning in EXIT_CODES]
    return "\n".join(lines)


def markdown_table() -> str:
    """The exit code table as Markdown, as ``docs/cli.md`` shows it."""
    lines = ["| code | cause | meaning |", "|---:|---|---|"]
    for code, cause, meaning in EXIT_CODES:
        shown = cause if cause.islower() else f"`{cause}`"
        lines.append(f"| {code} | {shown} | {meaning} |")
    return "\n".join(lines)
