"""The Dashboard's chart of the last days, drawn on the server as inline SVG (no
script, no CDN; the page's CSP allows it): the geometry of its bars and labels."""

from __future__ import annotations

from control_center.display import rupiah

SLOT = 44          # px of one day
LEFT = 34          # room for the axis' numbers
TOP = 12
PLOT = 120         # px of the tallest bar
BOTTOM = 28        # room for the dates


def daily_chart(days: list[dict]) -> dict:
    """Per day: a bar of requests with the matched ones inside it, and a bar of failure
    rows beside it, all on one scale; each bar carries a tooltip (``<title>``)."""
    top_value = max([1] + [max(d["requests"], d["failed"]) for d in days])

    def height(value: int) -> float:
        return round(PLOT * value / top_value, 1)

    base = TOP + PLOT
    bars = []
    for index, day in enumerate(days):
        x = LEFT + index * SLOT + 4
        when = f"{day['day']:%d %b}"
        bars.append(
            {
                "x": x, "failed_x": x + 22, "label_x": x + 17, "label": f"{day['day']:%d/%m}",
                "requests_y": base - height(day["requests"]), "requests_h": height(day["requests"]),
                "matched_y": base - height(day["matched"]), "matched_h": height(day["matched"]),
                "failed_y": base - height(day["failed"]), "failed_h": height(day["failed"]),
                "requests_title": f"{when}: {day['requests']} requests, {day['matched']} matched",
                "failed_title": f"{when}: {day['failed']} failed",
                "revenue": rupiah(day["revenue"]),
            }
        )
    return {
        "width": LEFT + len(days) * SLOT + 4, "height": TOP + PLOT + BOTTOM, "base": base, "top": TOP,
        "top_value": top_value, "half_value": top_value / 2 if top_value % 2 else top_value // 2, "half_y": TOP + PLOT / 2,
        "label_y": base + 16, "axis_x": LEFT, "bars": bars,
    }
