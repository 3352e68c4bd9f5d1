"""Times and numbers as the short words tables and messages use."""

from __future__ import annotations


def age(seconds: float) -> str:
    """How long ago, in the largest unit that reads well: 42s ago, 7m ago, 3h ago, 2d ago."""
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def duration(seconds: float) -> str:
    """A length of time as a clock reads it: 0:42, 12:05, 1:02:03."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def gpu_words(memory: int | None, peak: int | None, util: int | None) -> str:
    """"GPU 1.2 GB, peak 3.4 GB, 87%": the trainer's memory now and at its peak, and the GPU's utilisation;
    "" off a GPU (a CPU run's BatchEnded carries none)."""
    from trainers.devices import gb

    if memory is None:
        return ""
    use = f", {util}%" if util is not None else ""
    return f"GPU {gb(memory)}, peak {gb(peak or 0)}{use}"


def fit_columns(rows: list[list[str]], headers: tuple[str, ...] | list[str], width: int,
                shrinks: tuple[int, ...] | list[int]) -> list[list[str]]:
    """The rows with the columns in `shrinks` cut (with …), in that order, so that a DataTable `width` cells
    wide shows every column whole; the others (a status, a time) are never what a narrow terminal loses."""
    if not rows:
        return rows
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]
    over = sum(widths) + 2 * len(widths) + 2 - width  # DataTable pads each cell by one on both sides; a scrollbar
    for i in shrinks:
        if over <= 0:
            break
        floor = len(headers[i]) + 1
        cut = min(over, widths[i] - floor)
        if cut > 0:
            widths[i] -= cut
            over -= cut
    return [[c if len(c) <= w else c[:w - 1] + "…" for c, w in zip(r, widths)] for r in rows]


def lineage(name: str, parent: str) -> str:
    """A run's name with the run it was forked from: "b ← a"; the parent's leading words that it shares with
    the child (model, dataset, day) are left out, "…131455", so that the pair fits a column."""
    if not parent:
        return name
    mine, theirs = name.split("-"), parent.split("-")
    same = 0
    while same < min(len(mine), len(theirs)) - 1 and mine[same] == theirs[same]:
        same += 1
    return f"{name} ← " + ("…" + "-".join(theirs[same:]) if same else parent)
