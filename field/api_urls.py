"""/api/v1/field/: the field inspector's shift, position and tasks; where the inspectors are, for dispatchers."""

from django.urls import path

from field import api

urlpatterns = [
    path("shift/", api.ShiftView.as_view(), name="field-shift"),
    path("position/", api.PositionView.as_view(), name="field-position"),
    path("inspectors/", api.InspectorsView.as_view(), name="field-inspectors"),
    path("tasks/", api.TasksView.as_view(), name="field-tasks"),
    path("my-reports/", api.MyReportsView.as_view(), name="field-my-reports"),
]
