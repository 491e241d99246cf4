"""Authentication and authorisation of API requests: bearer tokens, roles, a leader's scope.

Every route but ``/health`` and the ZKTeco ``/iclock`` routes depends on ``Authorizer.require``;
the dependency resolves the ``Authorization: Bearer`` token to a ``Principal`` (401 when it is
missing, unknown or revoked) and checks the route's roles (403). What a leader may see or act on
beyond that depends on the guard concerned and is checked where the data is (``scope``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.api.tokens import Principal, Role, principal_for
from gateway.errors import InvalidRequest

__all__ = ["Authorizer", "Forbidden", "Unauthorized", "install_auth_errors"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `guard-gateway token create` (docs/api.md).",
)


class Unauthorized(Exception):
    """No credential, or one the gateway does not know (or has revoked): 401."""

    def __init__(self, detail: str, error: str | None = None) -> None:
        super().__init__(detail)
        self.error = error


class Forbidden(InvalidRequest):
    """The credential is valid but its role or scope does not allow this: 403.

    An ``InvalidRequest`` so that, raised by a command on the pipeline thread (a leader naming
    another's guard), it is a refused command like an unknown guard: rolled back and answered,
    never counted as a failed transaction. Its own handler answers 403, not 422."""


class Authorizer:
    """Builds the FastAPI dependencies that authenticate a request and check its role."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def principal(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        """The principal of the presented bearer token; ``Unauthorized`` otherwise."""
        if credentials is None:
            raise Unauthorized("an API token is required: Authorization: Bearer <token>")
        with Session(self._engine) as session:
            principal = principal_for(session, credentials.credentials)
        if principal is None:
            raise Unauthorized("the API token is unknown or revoked", error="invalid_token")
        return principal

    def require(self, *roles: Role) -> Callable[..., Principal]:
        """A dependency giving the request's principal, refusing roles not in ``roles``."""
        allowed = frozenset(roles)

        def dependency(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        ) -> Principal:
            principal = self.principal(credentials)
            if principal.role not in allowed:
                names = ", ".join(sorted(role.value for role in allowed))
                raise Forbidden(
                    f"{_article(principal.role)} {principal.role.value} token may not do this "
                    f"(allowed: {names})"
                )
            return principal

        return dependency


def _article(role: Role) -> str:
    return "an" if role.value[0] in "aeiou" else "a"


def install_auth_errors(app: FastAPI) -> None:
    """Register the 401 (with its ``WWW-Authenticate`` challenge) and 403 answers on ``app``."""

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_request: Request, exc: Unauthorized) -> JSONResponse:
        challenge = 'Bearer realm="guard-gateway"'
        if exc.error:
            challenge += f', error="{exc.error}"'
        return JSONResponse(
            status_code=401, content={"detail": str(exc)}, headers={"WWW-Authenticate": challenge}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})
