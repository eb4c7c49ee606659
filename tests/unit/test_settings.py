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


@pytest.mark.parametrize("secret", ["", "change-me", "short"])
def test_production_refuses_missing_or_default_secret(secret):
    with pytest.raises(ConfigurationError):
        apply_environment({"app.env": "production"}, environ={"SECRET_KEY": secret})


def test_production_accepts_a_real_secret():
    settings = apply_environment({"app.env": "production"}, environ={"SECRET_KEY": "k" * 40})
    assert settings["app.secret_key"] == "k" * 40


def test_development_gets_a_marked_secret():
    assert "not-for-production" in apply_environment({}, environ={})["app.secret_key"]
