"""Probes: small looks inside the network, each computed by the trainer and sent as one event.

- activations.py: a few fixed test images walked through every leaf layer (event Activations).
- layers.py: per layer, weight and gradient norms, the measured update-to-weight ratio, a weight
  histogram, dead ReLUs and saturated sigmoids, and the warning signs in words (LayerStats).
- evaluation.py: what the test pass shows, gathered during Trainer.evaluate() at almost no cost —
  a classifier's confusion matrix and most confidently wrong images (Confusion), an autoencoder's worst
  reconstructions and a PCA scatter of its code (Latent).
"""
