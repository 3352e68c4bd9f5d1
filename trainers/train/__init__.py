"""Training: a run prepared from its config (prepare), the loop (loop), one step (step), the hand MLP step
(mlpstep). The in-process pause/stop/save control is trainers.control, below runs/ (whose FolderControl extends it)."""
