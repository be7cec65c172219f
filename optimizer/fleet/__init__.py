"""The fleet plan of a queue: the problem built from the store (`plans`), the commitments in force
(`commitments`) and the stored plans the dashboard and recommendations read back.

It sits above the solver, the bill and the replay datasets it combines, and below `recommend`, the
dashboard and the CLI that ask for a plan.
"""
