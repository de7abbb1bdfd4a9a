"""Dash pages, controls, callbacks and figure builders; calls only compute's public functions."""
