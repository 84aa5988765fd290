"""The verification token: what Oura's challenge must carry for the receiver to answer it.

`webhooks subscribe` uses the token given (`--verification-token` or
`OURA_WEBHOOK_VERIFICATION_TOKEN`), else the stored one, else a new random one that
it stores in `<OURA_ELT_HOME>/webhooks/verification_token` (0600) for `webhooks serve`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile

from pipelines.webhooks.settings import VERIFICATION_TOKEN_ENV, verification_token_path


def stored_token() -> str | None:
    """The stored verification token, if any."""
    try:
        text = verification_token_path().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def store_token(token: str) -> None:
    """Save `token` atomically, readable by this user only."""
    path = verification_token_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".verification.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def resolve_token(given: str | None = None, *, create: bool = False) -> tuple[str | None, bool]:
    """The verification token to use, and whether it was just generated (and stored).

    Args:
        given: a token from the command line.
        create: generate and store one when none is given, in the environment or stored.
    """
    token = (given or os.environ.get(VERIFICATION_TOKEN_ENV) or "").strip() or stored_token()
    if token or not create:
        return token, False
    token = secrets.token_urlsafe(32)
    store_token(token)
    return token, True
