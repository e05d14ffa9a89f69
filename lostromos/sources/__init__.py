"""Bindings to kinds the API server already serves (Namespace, Service, ...).

A binding with a `source` is a projection, as a Crossplane claim or a Flux
HelmRelease generated from another object: for every selected source object
the controller keeps one object of the binding's own kind (the generated
object) whose spec is the source's mapped values. The reconciler then treats
the generated object exactly as any other bound object. This package holds
the plain parts both the webhook and the controller use: the source's
configuration (spec.py), the values mapping (mapping.py), the generated
object (generated.py) and the admission decision for source objects
(admission.py).
"""
