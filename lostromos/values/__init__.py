"""The values engine: Helm's coalescing, schema validation and defaulting.

`lostromos.values.engine.ValuesEngine` is the entry point; the other modules
are the parts of Helm (and of the Go libraries it uses) it is ported from.
Nothing is imported here, so `lostromos.charts` can use `semver_range`
without loading the engine that itself reads charts.
"""
