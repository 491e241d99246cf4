"""``/ready`` and ``/metrics``: no token, like ``/health`` (docs/operations.md: serve them on
the internal network only; they name destinations and alert counts, never a guard)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gateway.ops.readiness import Readiness

__all__ = ["operations_routes"]


def operations_routes(readiness: Readiness, registry: CollectorRegistry) -> APIRouter:
    """``GET /ready``: 200 when every check passes, else 503; both list every check by name.
    ``GET /metrics``: the Prometheus text format of ``registry``."""
    router = APIRouter(tags=["operations"])

    @router.get(
        "/ready",
        summary="Readiness: broker connected, database reachable, migrations current",
        responses={503: {"description": "Not ready: the failing checks are named"}},
    )
    async def ready() -> JSONResponse:
        checks = await run_in_threadpool(readiness.readiness)
        failing = [check.name for check in checks if not check.ok]
        body = {
            "ready": not failing,
            "failing": failing,
            "checks": {check.name: check.as_json() for check in checks},
        }
        return JSONResponse(status_code=503 if failing else 200, content=body)

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        payload = await run_in_threadpool(generate_latest, registry)
        return Response(content=payload, media_type=CONTENT_TYPE_LATEST)

    return router
