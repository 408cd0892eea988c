"""Deployment file -> frozen model; the certificate plan."""
