"""Metrics: scraping, samples, quantiles from histograms, and (later) the rule evaluator."""
