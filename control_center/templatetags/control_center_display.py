"""``{% load control_center_display %}``: ``{{ amount|rupiah }}`` and ``{{ tag|cause }}``
(see ``control_center.display``)."""

from django import template

from control_center import display

register = template.Library()


@register.filter
def rupiah(amount) -> str:
    return display.rupiah(amount)


@register.filter
def cause(code) -> str:
    return display.cause_html(code)


@register.filter
def cause_label(code) -> str:
    return display.cause_label(code)
