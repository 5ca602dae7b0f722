"""Curators' upload page: one file into one of their projects, through the importers."""
