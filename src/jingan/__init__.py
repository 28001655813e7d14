"""Jing'an convenient-care platform (健康静安 便捷就医 3.0)."""

__version__ = "0.1.0"
