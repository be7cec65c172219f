"""Fleet-mix optimizer: which instance types, bought how, and how many in each hour (pure layer).

Entry points: `problem.load_problem` / `problem_from_dict` (batchopt.problem/v1),
`solve.solve(problem, clock=...)` -> `plan.Plan` (batchopt.plan/v1), `validate.validate_plan`,
`baselines` (heuristics), `compute_environments.recommend_environments`, `build` (problems from
frames). See docs/problem-and-plan.md.
"""
