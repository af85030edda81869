"""The caller's token of the token-authenticated, free endpoints of a jditem server (watch
lists, the change feed, webhook endpoints): sent once as ``Authorization: Bearer <token>``,
known, enabled, and within the token's own rate limit (SPEC §2.2 codes 100 and 302).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jditem.protocol.codes import Code
from jditem.server.accounts.identities import TokenIdentity
from jditem.server.api.deps import CtxDep
from jditem.server.api.envelope import EnvelopeError

_bearer = HTTPBearer(
    auto_error=False, description="The API token: 'Authorization: Bearer <token>'."
)


async def bearer_token(
    request: Request,
    ctx: CtxDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> TokenIdentity:
    """The caller's token: known, enabled, within its rate limit (else 100 / 302)."""
    headers = request.headers.getlist("authorization")
    scheme, _, raw = headers[0].partition(" ") if len(headers) == 1 else ("", "", "")
    identity = None
    if scheme.lower() == "bearer" and raw.strip():
        identity = await ctx.admission.authenticate(raw.strip())
    if identity is None:
        raise EnvelopeError(
            Code.INVALID_TOKEN,
            "invalid or missing token: send it once as 'Authorization: Bearer <token>'",
        )
    if not identity.enabled:
        raise EnvelopeError(
            Code.INVALID_TOKEN, f"token {identity.prefix}... is disabled; use another token"
        )
    if identity.rate_limit is not None:
        key = f"token:{identity.token_id}"
        wait = await ctx.limiter.acquire(key, identity.rate_limit, identity.burst)
        if wait is not None:
            retry = max(1, int(wait + 0.999))
            raise EnvelopeError(
                Code.RATE_LIMITED,
                f"rate limit exceeded; wait {retry} s and slow down",
                headers={"Retry-After": str(retry)},
            )
    return identity


TokenDep = Annotated[TokenIdentity, Depends(bearer_token)]
