from cluster.ports import free_port


def test_healthz(make_app):
    assert make_app(app__node_id="app-node-2").get("/healthz").json == {
        "status": "ok", "node_id": "app-node-2"}


def test_readyz_ok(app):
    body = app.get("/readyz").json
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_names_what_failed(make_app, tmp_path):
    # Given a node whose Redis is gone and whose database path is unusable
    app = make_app(redis__url=f"redis://127.0.0.1:{free_port()}/0",
                   database_url=f"sqlite:///{tmp_path}/missing-dir/x.sqlite")
    body = app.get("/readyz", status=503).json
    assert body["error"] == "not_ready"
    assert body["failed"] == ["database", "redis"]
    # And /healthz still says the process is alive
    app.get("/healthz", status=200)
