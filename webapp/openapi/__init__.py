"""The API's own contract: ``webapp/openapi.yaml``, served as JSON at ``/api/openapi.json``.

The YAML is parsed and serialised once per process (at configuration time), so every
request for the document only copies bytes; a malformed document stops the app at start
instead of failing on a request.
"""
import json
from importlib.resources import files

import yaml

DOCUMENT = files("webapp").joinpath("openapi.yaml")


def load_document():
    """The OpenAPI document as a dict (the YAML holds only JSON-compatible values)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(DOCUMENT.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506


def includeme(config):
    document = load_document()
    config.registry["openapi_json"] = json.dumps(document, ensure_ascii=False).encode("utf-8")
