from django.urls import path
from rest_framework.routers import SimpleRouter

from experiments import api

router = SimpleRouter(use_regex_path=False)
router.register("experiments", api.ExperimentViewSet, basename="experiment")

urlpatterns = [
    path("events/", api.EventsView.as_view(), name="api-events"),
    *router.urls,
]
