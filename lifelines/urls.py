"""Pages of the lifelines app, under /lifelines/."""

from django.urls import path

from lifelines import views

app_name = "lifelines"

urlpatterns = [
    path("open-alarms/", views.open_alarms, name="open-alarms"),
    path("facilities/<int:pk>/", views.facility_page, name="facility"),
    path("<slug:scenario>/", views.scenario_page, name="scenario"),
]
