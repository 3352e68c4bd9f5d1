"""Datasets: the registry (what each is, where its files are, how it loads), synthetic digits, batches."""
