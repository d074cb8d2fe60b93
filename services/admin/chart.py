"""The daily revenue chart as a PNG, drawn by matplotlib's Agg backend in a short-lived child process.

Once imported, matplotlib and numpy stay resident: about 48 MiB, a quarter of the bot's memory, for a
picture an admin asks for now and then. So the bot runs this file as a script (`python chart.py`, which
imports nothing of the shop), hands it the bars as JSON on stdin and reads the PNG from stdout.
"""

import asyncio
import io
import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

SCRIPT = str(Path(__file__).resolve())


class ChartFailed(Exception):
    """The child process could not draw the chart; the message ends with what it printed."""


async def revenue_png(days: list[tuple[date, Decimal]], currency: str, title: str) -> bytes:
    """A bar chart of fiat revenue per day. Takes about a second (the child imports matplotlib);
    raises ChartFailed if the child fails."""
    request = {"days": [[d.isoformat(), str(v)] for d, v in days], "currency": currency, "title": title}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not this script's directory on the import path: nothing here may shadow what matplotlib imports
        SCRIPT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        png, errors = await child.communicate(json.dumps(request).encode())
    except BaseException:  # cancelled (shutdown): no child left drawing unsupervised
        child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        raise ChartFailed(f"exit code {child.returncode}: {errors.decode(errors='replace')[-1000:]}")
    return png


def _draw(days: list[tuple[date, Decimal]], currency: str, title: str) -> bytes:
    import matplotlib  # noqa: PLC0415  (only ever imported in the child process)

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


def main() -> None:
    """The child: the request as JSON on stdin, the PNG on stdout."""
    request = json.load(sys.stdin)
    days = [(date.fromisoformat(day), Decimal(value)) for day, value in request["days"]]
    sys.stdout.buffer.write(_draw(days, request["currency"], request["title"]))


if __name__ == "__main__":
    main()
