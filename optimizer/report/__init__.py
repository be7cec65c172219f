"""The weekly cost report: builders, renderers and sinks kept apart so each can change alone.

- `load.py` reads the store (the only I/O on the way in) into `ReportInputs`.
- `build.py` (pure: frames in, a typed `WeeklyReport` out; with `spend`, `anomalies`, `changes`,
  `coverage`) decides every number and flag; `model.py` is the content the renderers see.
- `render_html.py`, `render_markdown.py`, `render_csv.py` (and optionally `render_pdf.py`) turn a
  `WeeklyReport` into files, sharing `sections.py` and `fmt.py` so every format says the same;
  charts are static PNGs from `charts.py`, so the HTML needs no scripts and survives email clients.
- `sinks.py`, `sink_s3.py`, `sink_email.py`, `sink_slack.py` deliver the files; one failing sink
  never stops another.
- `run.py` ties them together for `batchopt report`; `job.py` is the scheduled weekly job.
"""
