"""The daily revenue chart as a PNG, drawn off the event loop with matplotlib's Agg backend."""

import asyncio
import io
from datetime import date
from decimal import Decimal


async def revenue_png(days: list[tuple[date, Decimal]], currency: str, title: str) -> bytes:
    """A bar chart of fiat revenue per day; rendered in a worker thread (it takes tens of milliseconds)."""
    return await asyncio.to_thread(_draw, days, currency, title)


def _draw(days: list[tuple[date, Decimal]], currency: str, title: str) -> bytes:
    import matplotlib  # noqa: PLC0415  (costs ~0.3 s: loaded on the first chart, not at start-up)

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415  (a Figure without pyplot: no global state)

    figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    axes = figure.subplots()
    # float only to place the bars; every figure shown as text stays Decimal.
    axes.bar([d.isoformat()[5:] for d, _ in days], [float(v) for _, v in days], color="#3b7dd8")
    axes.set_title(title)
    axes.set_ylabel(currency)
    axes.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelrotation=90, labelsize=8)
    axes.grid(axis="y", alpha=0.3)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
