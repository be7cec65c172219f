"""The weekly cost report: builders, renderers and sinks kept apart so each can change alone.

- `load.py` reads the store (the only I/O on the way in) into `ReportInputs`.
- `build.py` (pure: frames in, a typed `WeeklyReport` out) decides every number and flag.
- `render_html.py`, `render_markdown.py`, `render_csv.py` turn a `WeeklyReport` into files; charts
  are static PNGs from `charts.py` so the HTML needs no scripts and survives email clients.
- `sinks.py` delivers the files (directory, S3, SMTP, Slack); one failing sink never stops another.
- `run.py` ties them together for the CLI (`batchopt report`) and the scheduled weekly job.
"""
