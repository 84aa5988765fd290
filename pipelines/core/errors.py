"""The one error type the CLI turns into a single clear line and a non-zero exit."""


class OuraEltError(Exception):
    """A failure the user can act on.

    The message is one line: what happened, which identifier, and what to do next.
    It must never contain a token or a secret.
    """

    exit_code = 1


class UsageError(OuraEltError):
    """Bad input from the command line (dates, names, paths)."""

    exit_code = 2
