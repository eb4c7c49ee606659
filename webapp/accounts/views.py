import functools

from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import forget, remember
from pyramid.view import view_config

from webapp import validation as v
from webapp.accounts import principal as principals
from webapp.accounts import services
from webapp.accounts.models import User
from webapp.accounts.throttle import login_throttle
from webapp.branches.services import branch_from_query
from webapp.db import after_commit
from webapp.errors import OUTAGES, ApiError, invalid
from webapp.idempotency.services import idempotent_response
from realtime import revocation
from webapp.proxies import client_address


@view_config(route_name="api.login", request_method="POST", renderer="json")
def login(request):
    body = v.json_object(request)
    email = v.normalise_email(body.get("email")) or ""
    password = body.get("password")
    address = client_address(request)
    throttle = login_throttle(request)
    wait = throttle.reserve(email, address)
    if wait:
        raise ApiError(
            429, "too_many_attempts",
            f"Terlalu banyak percobaan masuk. Coba lagi dalam {wait} detik.",
            headers={"Retry-After": wait},
        )
    try:
        # a short read of its own: the password is verified outside any transaction
        user = services.authenticate(request.registry["dbsession_factory"],
                                     request.registry["db_read_engine"], email, password)
    except OUTAGES:
        throttle.refund(email, address)  # it never got to the password
        raise
    if user is None:
        raise ApiError(401, "invalid_credentials", "Email atau kata sandi salah.")
    throttle.refund(email, address)
    remember(request, user.id, user=user)
    principals.remember(request.redis, user)  # its next requests need no user query
    return {"user": services.user_json(user), "csrf_token": get_csrf_token(request)}


@view_config(route_name="api.logout", request_method="POST", permission="user")
def logout(request):
    # its realtime tokens and sockets end with it (contract §4)
    revocation.end_session(request.redis, revocation.session_ref(request.session.session_id),
                           int(request.registry.settings["session.lifetime_seconds"]))
    forget(request)
    return HTTPNoContent()


@view_config(route_name="api.me", request_method="GET", renderer="json", permission="user")
def me(request):
    return services.user_json(request.user)


@view_config(route_name="api.my_pin", request_method="PUT", permission="user")
def set_my_pin(request):
    """Contract §3.2: the kiosk PIN. Hashed before the request's transaction begins (the
    employee number it must differ from is read in a short one of its own)."""
    body = v.json_object(request)
    v.reject_unknown(body, ("pin",))
    number = services.employee_number_of(request.registry["dbsession_factory"],
                                         request.registry["db_read_engine"],
                                         request.principal.id)
    pin_hash = services.pin_hash_for(body.get("pin"), employee_number=number)
    services.store_pin(request.dbsession, request.principal.id, pin_hash)
    return HTTPNoContent()


@view_config(route_name="api.users", request_method="POST", permission="admin")
def create_user(request):
    body = v.json_object(request)
    v.reject_unknown(body, ("name", "email", "password", "role", "branch"))

    def action():
        user = services.create_user(
            request.dbsession,
            name=body.get("name"),
            email=body.get("email"),
            password=body.get("password"),
            role=body.get("role", "employee"),
            branch=body.get("branch"),
        )
        return 201, services.user_json(user)

    return idempotent_response(request, action)


@view_config(route_name="api.users", request_method="GET", renderer="json", permission="admin")
def list_users(request):
    errors = {}
    page, per_page = v.pagination(request.GET, errors)
    branch = branch_from_query(request.dbsession, request.GET, errors)
    v.raise_if(errors)
    users, total = services.list_users(
        request.dbsession, branch=branch, page=page, per_page=per_page
    )
    return {
        "data": [services.user_json(u) for u in users],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


def _user_or_404(request):
    user_id = v.path_id(request)
    user = request.dbsession.get(User, user_id) if user_id else None
    if user is None:
        raise ApiError(404, "not_found", "Pengguna tidak ditemukan.")
    return user


@view_config(route_name="api.user", request_method="GET", renderer="json", permission="admin")
def show_user(request):
    return services.user_json(_user_or_404(request))


@view_config(route_name="api.user", request_method="PATCH", renderer="json", permission="admin")
def update_user(request):
    user = _user_or_404(request)
    body = v.json_object(request)
    if "email" in body:
        raise invalid({"email": "Email tidak dapat diubah."})
    before = revocation.state_of(user)
    # until this commits and its record is rewritten, the user's requests ask the database
    principals.forget(request.redis, user.id)
    services.update_user(request.dbsession, user, body, acting_user=request.user)
    after_commit(request.dbsession, functools.partial(principals.remember, request.redis, user))
    after = revocation.state_of(user)
    if after != before:
        # demoted, deactivated or a new password: their sockets close within seconds
        after_commit(request.dbsession, functools.partial(
            revocation.announce_user, request.redis, user_id=user.id, state=after))
    return services.user_json(user)
