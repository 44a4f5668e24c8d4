"""Configuration backup: per-platform fetch recipes, secret scrubbing and a per-device git store."""
