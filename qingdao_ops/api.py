"""The /api/v1/ router: each app's viewsets are registered here, plus the few plain views.

Every endpoint needs an authenticated account (session for browsers, `Authorization: Token ...`
for devices and integrations); anonymous requests get 401. The schema and the docs at /api/schema/
and /api/docs/ are public: they describe the API, not its data.
"""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from cases import api as cases_api
from cases import tiles_api as cases_tiles_api
from catalogue import api as catalogue_api
from command import api as command_api
from geography import api as geography_api
from geography import tiles_api as geography_tiles_api
from organisations import api as organisations_api

router = DefaultRouter()
router.register("units", organisations_api.UnitViewSet, basename="unit")
router.register("people", organisations_api.PersonViewSet, basename="person")
router.register("districts", geography_api.DistrictViewSet, basename="district")
router.register("streets", geography_api.StreetViewSet, basename="street")
router.register("communities", geography_api.CommunityViewSet, basename="community")
router.register("grid-cells", geography_api.GridCellViewSet, basename="grid-cell")
router.register("components", geography_api.ComponentViewSet, basename="component")
router.register("cases", cases_api.CaseViewSet, basename="case")
router.register("supervisions", cases_api.SupervisionViewSet, basename="supervision")
router.register("routing-rules", cases_api.RoutingRuleViewSet, basename="routing-rule")
router.register("catalogue/classes", catalogue_api.MinorClassViewSet, basename="minor-class")

api_urlpatterns = [
    path("me/", organisations_api.MeView.as_view(), name="me"),
    path("locate/", geography_api.LocateView.as_view(), name="locate"),
    path(
        "map/components/<str:z>/<str:x>/<str:y>/",
        geography_tiles_api.ComponentTileView.as_view(),
        name="map-components",
    ),
    path("map/cases/<str:z>/<str:x>/<str:y>/", cases_tiles_api.CaseTileView.as_view(), name="map-cases"),
    path("command/queues/", command_api.QueuesView.as_view(), name="command-queues"),
    path("command/kpi/", command_api.KpiView.as_view(), name="command-kpi"),
    path("operating-mode/", command_api.OperatingModeView.as_view(), name="operating-mode"),
    path("field/", include("field.api_urls")),
    path("lifelines/", include("lifelines.api_urls")),
    *router.urls,
]
