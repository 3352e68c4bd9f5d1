"""A model's views, on the inspect screen and the run screen's Model tab: architecture, parameters, layer shapes."""
