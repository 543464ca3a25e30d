"""Thin interactive views over the methods: the Explorer and its parts."""

from .explorer import Explorer

__all__ = ["Explorer"]
