"""The picker's widgets: the hyperparameter form and the cost panel."""
