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
