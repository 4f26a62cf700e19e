"""django-filter set for the operators' failed-pairings list.

https://django-filter.readthedocs.io/en/stable/guide/rest_framework.html
``created_from`` / ``created_to`` take a date (whole day, inclusive) or an ISO datetime.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from failed_pairings.models import CauseTag, PairingFailure


class CauseTagsFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?cause_tags=a,b``: any of the listed tags; an unknown tag is a 400."""


class MomentField(forms.CharField):
    """A date or an ISO datetime; cleans to ``(aware datetime, was_a_date)``."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        value = value.strip()
        try:
            # a bare date first: parse_datetime (fromisoformat, Python ≥ 3.11) reads it as midnight
            day = parse_date(value)
            if day is not None:
                return (timezone.make_aware(datetime.combine(day, time.min)), True)
            moment = parse_datetime(value)
        except ValueError:  # well formed but impossible (2026-13-01, 25:00): a 400, not a 500
            moment = None
        if moment is None:
            raise forms.ValidationError("Use a date (2026-11-24) or an ISO datetime.")
        return (moment if timezone.is_aware(moment) else timezone.make_aware(moment), False)


@extend_schema_field(OpenApiTypes.STR)
class CreatedFromFilter(django_filters.Filter):
    field_class = MomentField

    def filter(self, qs, value):
        return qs if not value else qs.filter(created_at__gte=value[0])


@extend_schema_field(OpenApiTypes.STR)
class CreatedToFilter(django_filters.Filter):
    """Inclusive: a bare date means up to the end of that day."""

    field_class = MomentField

    def filter(self, qs, value):
        if not value:
            return qs
        moment, was_a_date = value
        return qs.filter(created_at__lt=moment + timedelta(days=1)) if was_a_date else qs.filter(created_at__lte=moment)


class PairingFailureFilter(django_filters.FilterSet):
    cause_tags = CauseTagsFilter(field_name="cause_tag", lookup_expr="in", choices=CauseTag.choices)
    created_from = CreatedFromFilter()
    created_to = CreatedToFilter()

    class Meta:
        model = PairingFailure
        fields = ["cause_tags", "created_from", "created_to"]
