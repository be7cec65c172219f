# One image runs the scheduler, the dashboard or a one-shot command:
#   docker run IMAGE scheduler                        # collectors, training, report, auto-tuning
#   docker run -p 8501:8501 IMAGE dashboard --host 0.0.0.0
#   docker run IMAGE collect --since 2026-11-01       # any batchopt command
# Configuration comes from BATCHOPT_* variables or a mounted TOML file (BATCHOPT_CONFIG).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY optimizer ./optimizer
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BATCHOPT_DATABASE_URL=sqlite:////data/batchopt.db \
    BATCHOPT_MODELS_DIR=/data/models \
    BATCHOPT_REPORT__OUT_DIR=/data/reports
RUN groupadd --system --gid 10001 batchopt \
    && useradd --system --uid 10001 --gid batchopt --home-dir /data --create-home batchopt
COPY --from=build /dist/*.whl /tmp/
# The versions the test suite passed with, so an image built on a later date runs the same code.
COPY constraints.txt /tmp/
RUN pip install --no-cache-dir -c /tmp/constraints.txt "$(ls /tmp/*.whl)[postgres]" && rm -f /tmp/*.whl /tmp/constraints.txt \
    && python -c "from optimizer.solver.search_kernels import warm_up; warm_up()"
WORKDIR /data
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["batchopt"]
CMD ["--help"]
