"""Controller: converges bound custom resources into Helm releases."""
