from pyramid.view import view_config
from sqlalchemy import text

from webapp.errors import json_response


@view_config(route_name="healthz", request_method="GET", renderer="json")
def healthz(request):
    return {"status": "ok", "node_id": request.node_id}


@view_config(route_name="readyz", request_method="GET")
def readyz(request):
    checks = {}
    try:
        # its own read-only connection: never the request's transaction, never a write lock
        with request.registry["db_read_engine"].connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - report any failure, never raise
        checks["database"] = f"error: {type(error).__name__}"
    try:
        request.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:  # noqa: BLE001
        checks["redis"] = f"error: {type(error).__name__}"
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body = {
        "status": "ok" if not failed else "unavailable",
        "node_id": request.node_id,
        "checks": checks,
    }
    if failed:
        body.update(error="not_ready", message="Tidak siap: " + ", ".join(failed), failed=failed)
    return json_response(503 if failed else 200, body)
