"""Recommendations: strategies (pure) that turn analyses, plans and replays into Recommendations,
stable ids for them, and the repository that keeps them in the store.

- `strategies/`: one small class per kind of advice, each with typed settings (`base.Strategy`);
- `inputs_model.RecommendInputs`: what a strategy reads (frames, a replay baseline, a clock);
- `savings.ReplayBaseline`: monthly savings from replaying the history on both configurations,
  with evidence that `batchopt simulate` reproduces; `estate`: Describe items <-> simulator documents;
- `inputs` (reads the store) and `engine.generate_recommendations` (runs and saves): the I/O edge.
"""
