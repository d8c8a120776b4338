"""Case pages: the list, the report form, a case, its photos and its workflow actions."""

from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    path("<str:number>/", views.case_detail, name="detail"),
    path("<str:number>/photos/<int:photo_id>/", views.case_photo, name="photo"),
    path("<str:number>/<str:action>/", views.case_action, name="action"),
]
