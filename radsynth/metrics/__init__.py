"""Metric definitions, each checked against hand-made arrays and independent implementations."""
