"""One module per constraint family; each turns columns into sparse `<=` rows (see `base.RowBlock`).

The column-generation LP and the integer master are built from the same blocks, so a family is
written once and both models agree on it.
"""
