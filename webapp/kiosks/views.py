"""Kiosk endpoints of contract §3.2 (admin list/create/revoke, enrollment, the QR code).
The PIN punch is an attendance view (webapp.attendance.kiosk), beside check-in."""
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from webapp import validation as v
from webapp.errors import ApiError, json_response
from webapp.kiosks import contact, services, throttle
from webapp.proxies import client_address


def _server_secret(request):
    return request.registry.settings["app.secret_key"]


@view_config(route_name="api.kiosks", request_method="POST", permission="admin")
def create_kiosk(request):
    body = v.json_object(request)
    kiosk, code = services.create_kiosk(request.dbsession, body, now=request.now)
    return json_response(201, {"kiosk": services.kiosk_json(kiosk), "enrollment_code": code})


@view_config(route_name="api.kiosks", request_method="GET", renderer="json",
             permission="admin")
def list_kiosks(request):
    kiosks = services.list_kiosks(request.dbsession)
    # the live last_seen comes from Redis (the database's is at most a minute old)
    seen = contact.last_seen(request.redis, [k.id for k in kiosks]) if kiosks else {}
    return {"data": [services.kiosk_json(k, seen.get(k.id)) for k in kiosks]}


@view_config(route_name="api.kiosk", request_method="DELETE", permission="admin")
def revoke_kiosk(request):
    services.revoke_kiosk(request.dbsession, v.path_id(request), now=request.now)
    return HTTPNoContent()


@view_config(route_name="api.kiosk_enroll", request_method="POST", renderer="json")
def enroll(request):
    body = v.json_object(request)
    v.reject_unknown(body, ("enrollment_code",))
    limits = throttle.enroll_limits(client_address(request))
    wait = throttle.reserve(request.redis, limits)
    if wait:
        # contract §3.2: every refused enrollment is 401 invalid_code, a throttled one too
        # (even with the right code, until the window ends)
        raise ApiError(401, "invalid_code",
                       f"Terlalu banyak percobaan. Coba lagi dalam {wait} detik.",
                       headers={"Retry-After": wait})
    kiosk, token, secret = services.enroll(request.dbsession, body.get("enrollment_code"),
                                           now=request.now,
                                           server_secret=_server_secret(request))
    throttle.refund(request.redis, [key for key, _, _ in limits])
    return {"kiosk": services.kiosk_json(kiosk), "device_token": token,
            "device_secret": secret}


@view_config(route_name="api.kiosk_qr", request_method="GET", renderer="json")
def qr(request):
    kiosk = services.kiosk_for_token(request.dbsession, services.bearer_token(request))
    services.note_contact(request.redis, request.registry["dbsession_factory"], kiosk,
                          request.now)
    code, expires = services.current_code(kiosk, now=request.now,
                                          server_secret=_server_secret(request))
    return {"code": code, "url": request.route_url("employee", _query={"kiosk": code}),
            "expires_at": expires.astimezone(kiosk.branch.zone).isoformat(),
            "kiosk": services.kiosk_json(kiosk)}
