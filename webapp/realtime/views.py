import datetime as dt

from pyramid.view import view_config

from realtime import channels, revocation, tokens


@view_config(route_name="api.realtime_token", request_method="POST", renderer="json",
             permission="user")
def realtime_token(request):
    settings = request.registry.settings
    user = request.user
    token, expires = tokens.issue(
        settings["app.secret_key"], user_id=user.id, role=user.role,
        ttl_seconds=int(settings["realtime.token_ttl_seconds"]),
        auth_version=user.auth_version,
        session=revocation.session_ref(request.session.session_id),
    )
    revocation.remember_user(request.redis, user)
    return {
        "token": token,
        "expires_at": dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat(),
        "channels": channels.default_channels(user_id=user.id, role=user.role),
    }
