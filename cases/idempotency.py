"""Idempotency keys for POST actions: a client that sends the same submission again with the same
`Idempotency-Key` header (a phone's offline queue retrying after a dead connection or a server error) gets the
first answer back, replayed, and nothing is done a second time.

The key is claimed by inserting its row (cases.models.ClientSubmission) in the transaction that runs the action,
before the action: a concurrent retry's insert waits on the unique constraint until the first request ends, then
replays its answer (committed) or runs the action itself (rolled back). Only successful (2xx) answers are kept:
a refusal or an error rolls the row back with everything else, and the key is free for the next attempt.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.files import File
from django.db import connection, transaction
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cases import clock, prepared
from cases.models import ClientSubmission

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
KEEP_DAYS = 30

# For the endpoints' schemas (drf-spectacular): the header, and the refusal a reused key gets.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=_(
        "Optional, 1-64 characters of A-Z a-z 0-9 _ - (a UUID): the same key sent again replays the first "
        "successful answer (header Idempotent-Replayed: true) and does nothing else."
    ),
)


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("This Idempotency-Key was already used for a different request.")
    default_code = "idempotency_key_reused"


KEY_REUSED_RESPONSE = OpenApiResponse(description=IdempotencyKeyReused.default_detail)


# --- the request's fingerprint


def _file_digest(upload: File) -> dict[str, str]:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)  # the view reads it again
    return {"file_sha256": digest.hexdigest()}


def _canonical(value: Any) -> Any:
    if isinstance(value, File):
        return _file_digest(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request: Request) -> str:
    """SHA-256 of the parsed body: each field's values, an upload by the SHA-256 of its bytes (not its name, nor
    the multipart boundary, which a client may draw afresh for each attempt). Field order does not count."""
    data = request.data
    if isinstance(data, MultiValueDict):  # form and multipart bodies (files merged in by DRF)
        canonical: Any = {name: _canonical(values) for name, values in data.lists()}
    else:
        canonical = _canonical(data)
    encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


# --- claiming a key, storing and replaying the answer

_CLAIM_SQL = """
INSERT INTO cases_clientsubmission (user_id, key, endpoint, fingerprint, created_at)
VALUES (%(user)s, %(key)s, %(endpoint)s, %(fingerprint)s, %(at)s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""
_EARLIER_SQL = """
SELECT endpoint, fingerprint, status_code, response_body FROM cases_clientsubmission
WHERE user_id = %(user)s AND key = %(key)s
"""
_STORE_SQL = """
UPDATE cases_clientsubmission SET status_code = %(status)s, response_body = %(body)s, case_id = %(case)s
WHERE id = %(id)s
"""


@dataclass(frozen=True)
class _Earlier:
    endpoint: str
    fingerprint: str
    status_code: int
    body: str | None


def _claim(*, user_id: int, key: str, endpoint: str, fingerprint: str) -> int | _Earlier:
    """The new row's id (the key is ours until the transaction ends), or the answer stored under the key.

    The insert waits while another transaction holds the key, and then sees its outcome. Inside a transaction."""
    params = {"user": user_id, "key": key, "endpoint": endpoint, "fingerprint": fingerprint, "at": clock.now()}
    with connection.cursor() as cursor:
        # Twice at most: the earlier row may be purged between the two statements (then the key is free).
        for _attempt in range(2):
            prepared.execute(cursor, _CLAIM_SQL, params)
            row = cursor.fetchone()
            if row is not None:
                return row[0]
            prepared.execute(cursor, _EARLIER_SQL, params)
            earlier = cursor.fetchone()
            if earlier is not None:
                return _Earlier(*earlier)
    raise RuntimeError(f"could not claim idempotency key {key!r}")  # pragma: no cover


def _store(submission_id: int, response: Response, case_id_field: str | None) -> None:
    body = None if response.data is None else JSONRenderer().render(response.data).decode()
    case_id = None
    if case_id_field and isinstance(response.data, Mapping):
        found = response.data.get(case_id_field)
        case_id = found if isinstance(found, int) else None
    with connection.cursor() as cursor:
        prepared.execute(
            cursor, _STORE_SQL, {"status": response.status_code, "body": body, "case": case_id, "id": submission_id}
        )


def _replay(earlier: _Earlier, *, endpoint: str, fingerprint: str) -> Response:
    if earlier.endpoint != endpoint or earlier.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    data = None if earlier.body is None else json.loads(earlier.body)
    return Response(data, status=earlier.status_code, headers={REPLAYED_HEADER: "true"})


Handler = Callable[..., Response]


def idempotent(handler: Handler | None = None, *, case_id_field: str | None = "id") -> Any:
    """Make a DRF view method (a POST action) safe to retry under an `Idempotency-Key` header.

    Without the header the method runs as it is (no query added). With it: a malformed key is a 400 naming the
    header; a key this user sent before replays the stored answer with `Idempotent-Replayed: true` (the method is
    not called: nothing is parsed, saved or notified), or is a 422 if it came with another endpoint or body; a new
    key runs the method in a transaction with the key's row, kept with the answer only if that is a 2xx.
    `case_id_field` names the answer's field that holds the case made or changed (recorded with the key).
    """

    def decorate(method: Handler) -> Handler:
        @functools.wraps(method)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return method(view, request, *args, **kwargs)
            if not KEY_RE.fullmatch(key):
                raise exceptions.ValidationError(
                    {HEADER: [_("The Idempotency-Key header takes 1 to 64 letters, digits, '-' or '_'.")]}
                )
            if not request.user.is_authenticated:  # keys are kept per user
                raise exceptions.NotAuthenticated()
            endpoint = f"{request.method} {request.path}"[:255]
            fingerprint = request_fingerprint(request)
            with transaction.atomic():
                claimed = _claim(user_id=request.user.pk, key=key, endpoint=endpoint, fingerprint=fingerprint)
                if isinstance(claimed, int):
                    response = method(view, request, *args, **kwargs)
                    if status.is_success(response.status_code):
                        _store(claimed, response, case_id_field)
                    else:  # an answer that is not a success frees the key again, with whatever it wrote
                        transaction.set_rollback(True)
                    return response
            return _replay(claimed, endpoint=endpoint, fingerprint=fingerprint)

        return wrapper

    return decorate(handler) if handler is not None else decorate


def client_submissions_purge(*, now: dt.datetime | None = None, keep_days: int = KEEP_DAYS) -> int:
    """Forget the keys older than `keep_days` (a phone's queue does not wait that long); how many were deleted."""
    cutoff = (now or clock.now()) - dt.timedelta(days=keep_days)
    deleted, _by_model = ClientSubmission.objects.filter(created_at__lt=cutoff).delete()
    return deleted
