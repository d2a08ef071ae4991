"""An ASGI app (Starlette) served through func.AsgiFunctionApp."""

import azure.functions as func
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"path": request.url.path, "name": request.path_params["name"]})


web = Starlette(routes=[Route("/api/hello/{name}", hello)])
app = func.AsgiFunctionApp(app=web, http_auth_level=func.AuthLevel.ANONYMOUS)
