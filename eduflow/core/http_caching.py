"""HTTP caching of API reads: ETag with If-None-Match, and a deliberate Cache-Control.

- Reads of catalog resources (courses, categories, modules, lessons) carry a strong `ETag` made
  from the body; a request whose `If-None-Match` matches gets `304 Not Modified` without a body.
- Anonymous callers see only the public catalog, the same bytes for everyone:
  `Cache-Control: public, max-age=N` (CATALOG_HTTP_MAX_AGE, 0 by default so browsers and
  proxies revalidate every time, which the ETag makes cheap). `Vary: Accept, Authorization,
  Cookie` keeps a shared cache from serving it to a signed-in caller.
- Signed-in callers get `Cache-Control: private, no-cache`: their answers may hold drafts or
  lesson bodies that are theirs alone, so no shared cache stores them.
- Every other API answer that sets no policy of its own is `private, no-store`
  (`DefaultCacheControlMiddleware`): personal data and tokens are never stored by default.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils.cache import get_conditional_response, patch_vary_headers

PUBLIC_VARY = ("Accept", "Authorization", "Cookie")
_API_PREFIX = "/api/"


def body_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class ConditionalReadMixin:
    """For DRF views: ETag, 304 on a matching If-None-Match, and Cache-Control on 200 reads.

    `conditional_actions` names the viewset actions it applies to (binary answers such as a
    thumbnail set their own headers and are left alone).
    """

    conditional_actions: tuple[str, ...] = ("list", "retrieve")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or getattr(response, "streaming", False)
            or getattr(self, "action", None) not in self.conditional_actions
        ):
            return response
        user = getattr(request, "user", None)
        if not response.has_header("Cache-Control"):
            if user is not None and user.is_authenticated:
                response["Cache-Control"] = "private, no-cache"
            else:
                response["Cache-Control"] = f"public, max-age={settings.CATALOG_HTTP_MAX_AGE}"
        patch_vary_headers(response, PUBLIC_VARY)
        if not response.has_header("ETag"):
            if hasattr(response, "render"):
                response.render()
            response["ETag"] = body_etag(response.content)
        return get_conditional_response(request, etag=response["ETag"], response=response)


class DefaultCacheControlMiddleware:
    """API answers without a Cache-Control of their own are `private, no-store`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(_API_PREFIX) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "private, no-store"
        return response
