"""Widgets more than one screen uses: charts, the filterable list, real-pixel pictures."""
