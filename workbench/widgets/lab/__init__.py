"""The lab screen's widgets: the Channels and Pooling tabs' drawings (the screen computes, these draw)."""
