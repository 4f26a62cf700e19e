"""drf-spectacular schema class for our views' nested ``InputSerializer`` /
``OutputSerializer`` classes (HackSoft style): their component names come from the
view (``RegisterApiInput``), so two views never collide on "Input"/"Output".

https://drf-spectacular.readthedocs.io/en/latest/customization.html
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTStatelessUserScheme
from drf_spectacular.openapi import AutoSchema


class CurhatAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and inner.endswith("Serializer"):
            return outer.replace(".", "") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)


class StatelessJWTScheme(SimpleJWTStatelessUserScheme):
    """The same Bearer access token, checked from its claims only (hot polls)."""

    name = "jwtStatelessAuth"
    priority = 1
