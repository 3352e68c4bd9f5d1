"""The Sweep screen's widgets: the table of trials, their curves overlaid, the parameters' importances."""
