"""Query-string filtering that costs nothing when the query string names no filter."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, skipped when no parameter of the view's filterset is present.

    Without any of its parameters a filterset narrows nothing and cannot fail validation, yet
    building its form costs a good share of a catalog read; so it is only built when used.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            # Prefixes: range filters read `<name>_min`, `<name>_after` and the like.
            names = tuple(filterset_class.base_filters)
            if not any(param.startswith(names) for param in request.query_params):
                return queryset
        return super().filter_queryset(request, queryset, view)
