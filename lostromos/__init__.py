"""lostromos: turn any Helm chart into a Kubernetes API."""
