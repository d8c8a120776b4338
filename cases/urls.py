"""Case pages: the list, the report and self-handle forms, the supervision records addressed to the user's units,
a case, its photos and its workflow actions."""

from django.urls import path

from cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    # Before "<number>/": these words are never case numbers.
    path("self-handle/", views.case_self_handle, name="self-handle"),
    path("supervisions/", views.supervision_list, name="supervisions"),
    path("supervisions/<int:pk>/reply/", views.supervision_reply, name="supervision-reply"),
    path("<str:number>/", views.case_detail, name="detail"),
    path("<str:number>/photos/<int:photo_id>/", views.case_photo, name="photo"),
    path("<str:number>/<str:action>/", views.case_action, name="action"),
]
