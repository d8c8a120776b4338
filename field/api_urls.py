"""/api/v1/field/: the field inspector's shift, position and tasks; where the inspectors are, for dispatchers."""


urlpatterns: list = []
