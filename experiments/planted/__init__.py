"""Planted-mechanism positive and null controls: calibration of the surgery and ground truth."""
