"""Table modules, one per area; each defines Core `Table`s on `optimizer.store.base.metadata`."""
