"""The values engine: Helm's coalescing, schema validation and defaulting.

`lostromos.values.engine.ValuesEngine` is the entry point; the other modules
are the parts of Helm (and of the Go libraries it uses) it is ported from.
`chart` is the chart as plain data; `lostromos.charts` loads it from disk,
using `chart`, `coalesce.merge_maps`, `schema_compile` and `semver_range`.
Nothing in this package imports `lostromos.charts`, and nothing is imported
here, so loading a chart does not load the engine.
"""
