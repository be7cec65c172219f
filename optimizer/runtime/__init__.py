"""What the process reads from its surroundings: the clock (`clock`), logging (`logging_setup`) and
the local Chromium that renders PDFs and drives browser checks (`browser`).

The foundation layer: every other package may import it, and it imports nothing of the project, so
the one place that reads the wall clock or the environment stays at the edge.
"""
