"""The controller's half of bindings to built-in kinds: the source projector."""
