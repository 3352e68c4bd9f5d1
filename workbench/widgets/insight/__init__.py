"""The run screen's tabs 6 and 7: activations, and where the model is wrong (confusion, latent space)."""
