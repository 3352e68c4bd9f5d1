"""Widgets of the workbench, one per module. None of them imports torch."""
