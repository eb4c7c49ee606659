"""The client's address behind the load balancer: nginx's ``X-Real-IP``, believed only
from the proxies named in ``app.trusted_proxies``."""
import ipaddress

from webapp.settings import as_list


def client_address(request):
    """The client's IP: nginx's ``X-Real-IP`` when the direct peer is a trusted proxy."""
    peer = request.remote_addr or ""
    trusted = request.registry["trusted_proxies"]
    forwarded = request.headers.get("X-Real-IP", "").strip()
    if forwarded and _in_networks(peer, trusted):
        return forwarded
    return peer


def _in_networks(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def includeme(config):
    config.registry["trusted_proxies"] = [
        ipaddress.ip_network(item, strict=False)
        for item in as_list(config.get_settings(), "app.trusted_proxies")
    ]
