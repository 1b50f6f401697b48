"""API keys: ``X-API-Key`` checked in constant time against every key of INGEST_API_KEYS."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from scorestream.exceptions import ConfigurationError
from scorestream.producers.bridge.problems import ProblemError

API_KEY_HEADER = "X-API-Key"

#: The scheme as the OpenAPI document declares it (handlers check the header themselves:
#: a FastAPI security dependency would cost more per request than the check).
SECURITY_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": API_KEY_HEADER,
    "description": "One of the keys in INGEST_API_KEYS",
}
SECURITY_SCHEME_NAME = "ApiKey"


class ApiKeyAuth:
    """Accept a request when its key equals one of ``keys``.

    Every key is compared, whatever the outcome of the earlier ones, with
    :func:`hmac.compare_digest`, so that the time taken tells nothing about which key,
    or how much of one, matched. SHA-256 digests are compared rather than the keys, so
    that all comparisons have the same length and the time does not reveal a key's length
    either. With no keys and ``allow_anonymous`` every request passes.
    """

    def __init__(self, keys: Sequence[str], *, allow_anonymous: bool = False) -> None:
        if not keys and not allow_anonymous:
            raise ConfigurationError(
                "no API keys configured: set INGEST_API_KEYS or allow anonymous use"
            )
        self._digests = [_digest(key) for key in keys]
        self.anonymous = not keys

    def is_allowed(self, presented: str | None) -> bool:
        """Whether ``presented`` (the header value, None when absent) is a valid key."""
        if self.anonymous:
            return True
        if presented is None:
            return False
        candidate = _digest(presented)
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched

    def require(self, presented: str | None) -> None:
        """Raise a 401 problem unless ``presented`` is a valid key."""
        if not self.is_allowed(presented):
            detail = (
                f"missing {API_KEY_HEADER} header"
                if presented is None
                else f"wrong {API_KEY_HEADER}"
            )
            raise ProblemError(
                401, detail, headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}
            )


def _digest(key: str) -> bytes:
    # Header values are latin-1 on the wire; surrogateescape takes whatever arrives.
    return hashlib.sha256(key.encode("utf-8", errors="surrogateescape")).digest()
