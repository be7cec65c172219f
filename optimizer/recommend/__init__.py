"""Recommendations: strategies (pure) that turn analyses, plans and replays into Recommendations,
stable ids for them, and the repository that keeps them in the store."""
