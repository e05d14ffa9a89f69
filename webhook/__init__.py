"""Admission webhook: validates and defaults bound custom resources."""
