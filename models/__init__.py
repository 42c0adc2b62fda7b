"""Classifiers: a frontend followed by a timm backbone."""
