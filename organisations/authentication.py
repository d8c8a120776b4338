"""API token authentication (`Authorization: Token <key>`) as DRF's, with the token and its user read in one
hand-written statement: compiling DRF's `select_related` ORM query for the user's row cost more than running
it, on every request of every device and integration (intake at a few hundred reports a second)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from organisations.models import User

_USER_FIELDS = User._meta.concrete_fields
_USER_ATTNAMES = [field.attname for field in _USER_FIELDS]
_SQL = (
    "SELECT t.created, "
    + ", ".join(f'u."{field.column}"' for field in _USER_FIELDS)
    + f' FROM "{Token._meta.db_table}" t JOIN "{User._meta.db_table}" u ON u.id = t.user_id WHERE t.key = %s'
)


class TokenAuthentication(authentication.TokenAuthentication):
    """The same keys, answers and messages as rest_framework.authentication.TokenAuthentication."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        with connection.cursor() as cursor:
            cursor.execute(_SQL, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = User.from_db(connection.alias, _USER_ATTNAMES, list(row[1:]))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user_id=user.pk, created=row[0])
        token._state.adding, token._state.db = False, connection.alias
        Token.user.field.set_cached_value(token, user)
        return user, token

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
