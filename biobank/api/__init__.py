"""Analyst REST API: read endpoints, filters and the OpenAPI contract, under /api/."""
