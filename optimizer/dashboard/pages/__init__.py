"""One module per page; each exposes `render()` and reads like a description of what it shows."""
