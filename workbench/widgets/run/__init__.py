"""The run screen's widgets: progress, epochs, images, layer statistics."""
