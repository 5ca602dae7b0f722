"""Helpers shared by every app; this package imports no app."""
