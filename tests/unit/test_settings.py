import secrets

import pytest

from webapp.settings import ConfigurationError, apply_environment


def test_environment_overrides_ini():
    settings = apply_environment(
        {"redis.url": "redis://ini/0", "app.node_id": "app-node-1"},
        environ={"REDIS_URL": "redis://env/1", "APP_NODE_ID": "app-node-3"},
    )
    assert settings["redis.url"] == "redis://env/1"
    assert settings["app.node_id"] == "app-node-3"
    assert settings["app.city"] == "Surabaya"


REAL_SECRET = secrets.token_urlsafe(48)


@pytest.mark.parametrize("secret", ["", "change-me", "short", "k" * 40, "ab" * 20,
                                    "password1234" * 3])
def test_production_refuses_missing_default_or_guessable_secret(secret):
    with pytest.raises(ConfigurationError):
        apply_environment({"app.env": "production"}, environ={"SECRET_KEY": secret})


@pytest.mark.parametrize("secret", [REAL_SECRET, secrets.token_hex(32)])
def test_production_accepts_a_real_secret(secret):
    settings = apply_environment({"app.env": "production"}, environ={"SECRET_KEY": secret})
    assert settings["app.secret_key"] == secret


def test_every_secret_can_come_from_a_file(tmp_path):
    # Given each secret in its own file, as Docker secrets or systemd credentials give them
    files = {}
    for name, value in [("SECRET_KEY", REAL_SECRET), ("DATABASE_PASSWORD", "db p@ss/wörd"),
                        ("REDIS_PASSWORD", "redis:pw")]:
        files[name] = tmp_path / name.lower()
        files[name].write_text(value + "\n")
    environ = {f"{name}_FILE": str(path) for name, path in files.items()}
    environ.update(DATABASE_URL="mysql+pymysql://absensi@db.internal:3306/absensi",
                   REDIS_URL="rediss://redis.internal:6380/0", REDIS_CA="/etc/ssl/ca.pem")

    # When production reads its settings
    settings = apply_environment({"app.env": "production"}, environ=environ)

    # Then the secrets are the files' contents (without the trailing newline), the passwords
    # percent-encoded into the URLs every process uses
    assert settings["app.secret_key"] == REAL_SECRET
    assert settings["database.url"] == (
        "mysql+pymysql://absensi:db%20p%40ss%2Fw%C3%B6rd@db.internal:3306/absensi")
    assert settings["redis.url"] == "rediss://:redis%3Apw@redis.internal:6380/0"
    assert settings["redis.ssl_ca"] == "/etc/ssl/ca.pem"


def test_a_whole_url_can_come_from_a_file(tmp_path):
    path = tmp_path / "database_url"
    path.write_text("mysql+pymysql://u:p@db/absensi")
    settings = apply_environment({}, environ={"DATABASE_URL_FILE": str(path)})
    assert settings["database.url"] == "mysql+pymysql://u:p@db/absensi"


def test_a_secret_and_its_file_together_are_refused(tmp_path):
    path = tmp_path / "secret"
    path.write_text(REAL_SECRET)
    with pytest.raises(ConfigurationError, match="SECRET_KEY or SECRET_KEY_FILE"):
        apply_environment({}, environ={"SECRET_KEY": REAL_SECRET, "SECRET_KEY_FILE": str(path)})


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="REDIS_URL_FILE"):
        apply_environment({}, environ={"REDIS_URL_FILE": str(tmp_path / "missing")})


def test_development_gets_a_marked_secret():
    assert "not-for-production" in apply_environment({}, environ={})["app.secret_key"]
