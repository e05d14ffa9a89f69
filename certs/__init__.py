"""Certificates for the webhook: CA, serving certificate, caBundle injection."""
