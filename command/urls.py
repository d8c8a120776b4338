"""Pages of the command centre."""

from django.urls import path

from command import mode_views, views

app_name = "command"

urlpatterns = [
    path("", views.command_centre, name="centre"),
    path("mode/", mode_views.operating_mode_page, name="mode"),
    path("cases/<str:number>/", views.case_panel, name="case-panel"),
    path("cases/<str:number>/<str:action>/", views.case_panel_action, name="case-panel-action"),
]
