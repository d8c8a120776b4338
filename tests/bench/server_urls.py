"""The URLs a benchmark server serves: the platform's, plus the baseline endpoint (make bench only)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class CreatedView(APIView):
    """The baseline: a DRF endpoint with the API's authentication and permission, parsing the same body and
    answering 201 without doing anything."""

    def post(self, request: Request) -> Response:
        return Response({"received": len(request.data)}, status=201)


urlpatterns = [
    path("bench/created/", CreatedView.as_view()),
    path("", include("qingdao_ops.urls")),
]
