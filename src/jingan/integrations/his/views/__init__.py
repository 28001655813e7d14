"""Dialect D: the HIS exposes read-only database views that the platform polls.

``codec`` turns one view row into our events, ``adapter`` polls the views (SQLite or
PostgreSQL) with a watermark and an overlap window, ``simulator`` owns one SQLite HIS
database per institution with realistic tables and the views.
"""
