"""OAuth2 for the Oura API: login, the per-profile token store, refreshing token providers.

The loader asks `token_provider(profile)` for a `TokenProvider`; the CLI's
`oura-elt auth` commands use `login`, `logout` and the store.
"""

from pipelines.auth.login import check_redirect_uri, login
from pipelines.auth.logout import LogoutResult, logout
from pipelines.auth.scopes import bare_scope, missing_scope, normalize_scopes
from pipelines.auth.store import (
    TokenRecord,
    TokenStore,
    list_profiles,
    resolve_profile,
    validate_profile,
)
from pipelines.auth.tokens import (
    NotLoggedIn,
    OAuthTokenProvider,
    ReloginRequired,
    StaticTokenProvider,
    TokenProvider,
    token_provider,
)

__all__ = [
    "LogoutResult",
    "NotLoggedIn",
    "OAuthTokenProvider",
    "ReloginRequired",
    "StaticTokenProvider",
    "TokenProvider",
    "TokenRecord",
    "TokenStore",
    "bare_scope",
    "check_redirect_uri",
    "list_profiles",
    "login",
    "logout",
    "missing_scope",
    "normalize_scopes",
    "resolve_profile",
    "token_provider",
    "validate_profile",
]
