"""Every process reaches Redis over TLS with a verified certificate when the URL says so."""
import asyncio

import pytest
import redis

from tests.servers import RedisServer
from tasks.broker import make_redis_client
from tests.tls_helpers import make_server_certificate
from webapp.redis import make_redis
from webapp.settings import apply_environment
from wsgate.app import make_async_redis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    tls = make_server_certificate(tmp_path_factory.mktemp("pki"))
    with RedisServer(data_dir=tmp_path_factory.mktemp("redis-tls"), tls=tls,
                     password="s3cret pw") as server:
        yield server, tls


def settings_for(server, ca):
    # as production gets them: URL without the password, password and CA apart
    url = server.url.replace(":s3cret pw@", "")
    return apply_environment({}, environ={"REDIS_URL": url, "REDIS_PASSWORD": server.password,
                                          "REDIS_CA": str(ca)})


def test_web_worker_and_gateway_clients_speak_tls_to_redis(tls_redis):
    # Given a Redis that listens with TLS only and wants a password
    server, tls = tls_redis
    settings = settings_for(server, tls.ca)

    # When each process kind's client talks to it
    async def gateway_ping():
        client = make_async_redis(settings)
        try:
            return await client.ping()
        finally:
            await client.aclose()

    # Then all of them work
    assert make_redis(settings).ping() is True
    assert make_redis_client(settings).ping() is True
    assert asyncio.run(gateway_ping()) is True


def test_a_redis_certificate_not_signed_by_our_ca_is_refused(tls_redis, tmp_path):
    server, _ = tls_redis
    other_ca = make_server_certificate(tmp_path / "other").ca
    with pytest.raises(redis.exceptions.ConnectionError):
        make_redis(settings_for(server, other_ca)).ping()


def test_plaintext_is_refused_by_a_tls_redis(tls_redis):
    server, _ = tls_redis
    plain = redis.Redis(host="127.0.0.1", port=server.port, password=server.password,
                        socket_timeout=2, socket_connect_timeout=2)
    with pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()


def _tls_mariadb(hosts=("127.0.0.1", "localhost")):
    import shutil
    import tempfile
    from pathlib import Path

    from tests.tls_helpers import TlsMariaDB

    # mysql reads its certificate and key: a directory outside pytest's private tree
    pki = Path(tempfile.mkdtemp(prefix="absensi-test-pki-"))
    pki.chmod(0o755)
    try:
        tls = make_server_certificate(pki, hosts=hosts)
        with TlsMariaDB(tls=tls, password="tls-test-pw") as server:
            yield server, tls
    finally:
        shutil.rmtree(pki, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_mariadb():
    yield from _tls_mariadb()


@pytest.fixture(scope="module")
def misnamed_tls_mariadb():
    """Its certificate is signed by our CA but names another host than 127.0.0.1."""
    yield from _tls_mariadb(hosts=("db.example",))


def _engine_for(server, ca, driver):
    from webapp.db import make_engine

    engine = make_engine({"database.url": server.url, "database.ssl_ca": str(ca)})
    assert engine.dialect.driver == driver
    return engine


def test_the_database_is_reached_over_tls_with_the_configured_ca(tls_mariadb, mysql_driver):
    from sqlalchemy import text

    server, tls = tls_mariadb
    engine = _engine_for(server, tls.ca, mysql_driver)
    try:
        with engine.connect() as connection:
            cipher = connection.execute(text("SHOW SESSION STATUS LIKE 'Ssl_cipher'")).one()[1]
        assert cipher
    finally:
        engine.dispose()


def _refused(engine):
    from sqlalchemy.exc import OperationalError

    try:
        with pytest.raises(OperationalError):
            with engine.connect():
                pass
    finally:
        engine.dispose()


def test_a_database_certificate_from_another_ca_is_refused(tls_mariadb, tmp_path,
                                                           mysql_driver):
    server, _ = tls_mariadb
    stranger = make_server_certificate(tmp_path / "other-ca")  # same names, other CA
    _refused(_engine_for(server, stranger.ca, mysql_driver))


def test_a_database_certificate_for_another_host_is_refused(misnamed_tls_mariadb,
                                                            mysql_driver):
    server, tls = misnamed_tls_mariadb
    _refused(_engine_for(server, tls.ca, mysql_driver))
