from pyramid.response import Response
from pyramid.view import view_config


@view_config(route_name="api.openapi", request_method="GET")
def openapi_document(request):
    return Response(body=request.registry["openapi_json"], content_type="application/json",
                    charset="utf-8")
