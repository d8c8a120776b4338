"""/api/v1/lifelines/: mounted by qingdao_ops.api."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from lifelines import api

router = SimpleRouter()
router.register("facilities", api.FacilityViewSet, basename="lifelines-facility")
router.register("alarms", api.AlarmViewSet, basename="lifelines-alarm")

urlpatterns = [
    path("readings/", api.ReadingsIngestView.as_view(), name="lifelines-readings"),
    path("sensors/<int:pk>/readings/", api.SensorReadingsView.as_view(), name="lifelines-sensor-readings"),
    *router.urls,
]
