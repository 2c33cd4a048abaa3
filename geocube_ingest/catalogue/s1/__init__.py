"""Sentinel-1 products split into bursts: annotation files, footprints and ESA burst ids."""
