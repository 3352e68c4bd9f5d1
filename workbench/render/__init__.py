"""Pure rendering: images, tensors and layouts as characters (and pictures for textual-image). No widgets."""
