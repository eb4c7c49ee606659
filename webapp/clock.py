"""The current instant, as one replaceable registry entry (tests pin it to a moment)."""
import datetime as dt


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def utcnow_naive():
    """The same instant as the database stores it: naive UTC."""
    return utcnow().replace(tzinfo=None)


def includeme(config):
    config.registry["clock"] = utcnow
    config.add_request_method(lambda request: request.registry["clock"](), "now", reify=True)
