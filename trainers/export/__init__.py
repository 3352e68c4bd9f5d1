"""Taking a run home: a standalone training script (script), its metrics as CSV and TensorBoard (metrics)."""
