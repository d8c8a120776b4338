"""Device authentication: `Authorization: Device <prefix>.<secret>`, for the readings endpoint only.

It is not in DEFAULT_AUTHENTICATION_CLASSES, so everywhere else a device's header means nothing and the request
is anonymous: 401 (a device cannot read the staff API). The prefix finds the device; the SHA-256 of the whole
token is compared in constant time with the stored hash.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from lifelines.models import Device, token_hash


class DevicePrincipal:
    """What request.user is for a device: authenticated, but no person, no staff, no scope."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, device: Device) -> None:
        self.device = device

    def __str__(self) -> str:
        return str(self.device)


class DeviceAuthentication(authentication.BaseAuthentication):
    keyword = "Device"

    def authenticate(self, request: Any) -> tuple[DevicePrincipal, Device] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid device header: give one token after 'Device'."))
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid device token.")) from None
        prefix, dot, _secret = token.partition(".")
        device = (
            Device.objects.filter(token_prefix=prefix).only("id", "code", "name", "token_hash", "revoked_at").first()
            if dot and prefix
            else None
        )
        if device is None or not hmac.compare_digest(device.token_hash, token_hash(token)):
            raise exceptions.AuthenticationFailed(_("Invalid device token."))
        if device.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This device's token has been revoked."))
        return DevicePrincipal(device), device

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


class IsDevice(permissions.BasePermission):
    """Only an authenticated device (people and integrations with their own tokens report nothing here)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, Device)


class DeviceAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the schema describes the device header (registered by being defined)."""

    target_class = DeviceAuthentication
    name = "deviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(_("A device's token, as `Device <prefix>.<secret>`.")),
        }
