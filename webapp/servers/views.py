from pyramid.view import view_config

from webapp.servers.heartbeats import live_nodes, public_node


@view_config(route_name="api.servers", request_method="GET", renderer="json", permission="admin")
def servers(request):
    return {"nodes": [public_node(record) for record in live_nodes(request.redis)]}
