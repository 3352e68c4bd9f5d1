"""Training: a run prepared from its config (prepare), the loop (loop), one step (step), the hand MLP step
(mlpstep) and the in-process pause/stop/save control (control)."""
