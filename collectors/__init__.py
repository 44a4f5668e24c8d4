"""Collectors: one module or small package per kind of check (DESIGN §4)."""
