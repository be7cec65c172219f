"""Bundled reference data files: an on-demand price + instance spec snapshot and the Spot Advisor bands.

The solver, the replay and the strategies need a catalogue even when the store is empty (a demo, a
first run before any collection, a trace imported offline), so these snapshots ship with the
package. They are read only through `optimizer.catalog.files` (the one reader of price tables and
advisor feeds); see README.md here for sources, licences and `python -m optimizer.data.build_snapshots`
to regenerate them.
"""
