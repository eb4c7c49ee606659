"""The current instant, as one replaceable registry entry (tests pin it to a moment)."""
import datetime as dt


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def utcnow_naive():
    """The same instant as the database stores it: naive UTC."""
    return utcnow().replace(tzinfo=None)


def as_utc(naive):
    return naive.replace(tzinfo=dt.timezone.utc) if naive is not None else None


def local_iso(naive_utc, zone):
    """Naive-UTC DB instant → ISO 8601 with the branch's offset, to the second."""
    if naive_utc is None:
        return None
    return as_utc(naive_utc).astimezone(zone).isoformat(timespec="seconds")


def includeme(config):
    config.registry["clock"] = utcnow
    config.add_request_method(lambda request: request.registry["clock"](), "now", reify=True)
