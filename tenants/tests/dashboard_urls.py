"""The project's URLs plus stand-ins for the pages other parts of the UI route (products,
experiments), so that the dashboard's links and buttons to them can be tested whether or
not those pages are routed yet. A name the project already routes is left alone."""

from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver, path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as project_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def _standin(request: HttpRequest, **kwargs: str) -> HttpResponse:
    return HttpResponse("stand-in page")


_STANDINS = [
    ("products/", "products"),
    ("experiments/", "experiments"),
    ("experiments/<slug:key>/", "experiment_detail"),
]
_routed = get_resolver("config.urls").reverse_dict

urlpatterns = [
    *[path(route, _standin, name=name) for route, name in _STANDINS if name not in _routed],
    *project_urlpatterns,
]
