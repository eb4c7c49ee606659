"""The MySQL driver: mysqlclient (C, ``MySQLdb``) when installed, PyMySQL otherwise, for
the same ``mysql+pymysql://`` settings; TLS verifies the server with either."""
import ssl
import sys

import pytest

from tests.tls_helpers import make_server_certificate
from webapp.db import make_engine, mysql_driver_options

URL = "mysql+pymysql://absensi:pw@db.internal:3306/absensi"


@pytest.fixture()
def without_mysqlclient(monkeypatch):
    """As on a host without libmariadb and the ``c-driver`` extra."""
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # `import MySQLdb` raises ImportError


def test_the_engine_uses_the_c_driver_when_mysqlclient_is_installed():
    # Given the venv of `make venv` (the c-driver extra) and settings naming PyMySQL
    # When the engine is made
    engine = make_engine({"database.url": URL})
    # Then it speaks through mysqlclient, to the same server and database
    assert engine.dialect.driver == "mysqldb"
    assert engine.dialect.loaded_dbapi is sys.modules["MySQLdb"]
    assert (engine.url.host, engine.url.database) == ("db.internal", "absensi")
    engine.dispose()


def test_the_engine_falls_back_to_pymysql_without_mysqlclient(without_mysqlclient):
    engine = make_engine({"database.url": URL})
    assert engine.dialect.driver == "pymysql"
    engine.dispose()


def test_the_c_driver_verifies_the_server_against_the_ca_or_uses_no_tls():
    url, verified = mysql_driver_options(URL, "/etc/absensi/db-ca.pem")
    assert url.drivername == "mysql+mysqldb"
    # libmariadb: TLS required, certificate and host name checked against this CA
    assert verified == {"charset": "utf8mb4", "ssl": {"ca": "/etc/absensi/db-ca.pem"},
                        "ssl_mode": "VERIFY_IDENTITY"}
    _, plain = mysql_driver_options(URL, "")
    assert plain == {"charset": "utf8mb4", "ssl_mode": "DISABLED"}


def test_pymysql_verifies_the_server_against_the_ca_or_uses_no_tls(
        without_mysqlclient, tmp_path):
    url, plain = mysql_driver_options(URL, None)
    assert url.drivername == "mysql+pymysql"
    assert plain == {"charset": "utf8mb4", "ssl_disabled": True}
    _, verified = mysql_driver_options(URL, str(make_server_certificate(tmp_path).ca))
    assert verified["ssl"].verify_mode == ssl.CERT_REQUIRED and verified["ssl"].check_hostname
