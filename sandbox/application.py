"""The sandbox's registered applications: client ids, secrets and redirect URIs.

The sandbox owns these values; the product must not be imported here (the server
stands in for Oura, which knows nothing of its clients' code). They only work
against the sandbox.
"""

from __future__ import annotations

# Where `oura-elt sandbox serve` listens unless told otherwise.
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = 8089

# The documented sandbox app, registered on Oura's legacy developer portal.
SANDBOX_CLIENT_ID = "oura-elt-sandbox"
SANDBOX_CLIENT_SECRET = "oura-elt-sandbox-secret"

# A second app, registered on the "new" developer portal (api-reference §4.3).
NEW_PORTAL_CLIENT_ID = "oura-elt-sandbox-v2"
NEW_PORTAL_CLIENT_SECRET = "oura-elt-sandbox-v2-secret"

# The redirect URI both apps register (trailing slash included, as Oura's portal wants).
DEFAULT_REDIRECT_URI = "http://localhost:8765/callback/"
