"""The emulator process: moto's threaded server on 127.0.0.1 with the gap-filling layer in front.

`Emulator.start()` binds a free port, serves moto's `DomainDispatcherApplication` wrapped by
`GapFillingApp`, and switches Batch to run without Docker (moto's `/moto-api/config`), so creating
compute environments and queues works on a machine without a Docker daemon. Because the server runs
in this process, seeding writes straight into moto's backends (`moto.backends.get_backend`) and the
emulator's own `EmulatorState`; clients only ever see HTTP on `endpoint_url`.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from datetime import datetime, timedelta

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from optimizer.demo.emulator.batch_jobs import BatchJobs
from optimizer.demo.emulator.compute_resources import ComputeResourceUpdates
from optimizer.demo.emulator.container_instances import ContainerInstances
from optimizer.demo.emulator.gapfill import GapFillingApp, Handler
from optimizer.demo.emulator.job_definitions import JobDefinitions
from optimizer.demo.emulator.pricing import Pricing
from optimizer.demo.emulator.seed import HistoryFrames, HistorySeeder, SeedCounts
from optimizer.demo.emulator.spot_prices import SpotPriceHistory
from optimizer.demo.emulator.state import EmulatorState

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _QuietRequestHandler(MotoRequestHandler):
    """No access log on stderr: the demo's progress display owns the terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _GapFillingServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer serving the wrapped app instead of the bare dispatcher."""

    def __init__(self, ip_address: str, port: int, handlers: dict[tuple[str, str], Handler]) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._handlers = handlers

    def _server_entry(self) -> None:
        app = GapFillingApp(DomainDispatcherApplication(create_backend_app), self._handlers)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=_QuietRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class Emulator:
    """A local AWS for the demo and the tests; `now` is the instant the history ends at.

    `history_days` sets `history_start = now - history_days`, the time from which derived spot
    prices are in effect. Use as a context manager or call `start()` / `stop()`.
    """

    def __init__(self, now: datetime, *, history_days: int = 30, port: int | None = None) -> None:
        self.now = now
        self.history_start = now - timedelta(days=history_days)
        self.account_id = DEFAULT_ACCOUNT_ID
        self.state = EmulatorState()
        self.port = port or free_port()
        self._server: _GapFillingServer | None = None
        jobs = BatchJobs(self.state, self.account_id)
        containers = ContainerInstances(self.state, self.account_id)
        pricing = Pricing()
        spot = SpotPriceHistory(now, self.history_start)
        updates = ComputeResourceUpdates(self.account_id)
        definitions = JobDefinitions(self.account_id)
        self.handlers: dict[tuple[str, str], Handler] = {
            ("batch", "listjobs"): jobs.list_jobs,
            ("batch", "describejobs"): jobs.describe_jobs,
            ("batch", "updatecomputeenvironment"): updates.handle,
            ("batch", "describejobdefinitions"): definitions.describe_job_definitions,
            ("ecs", "ListContainerInstances"): containers.list_container_instances,
            ("ecs", "DescribeContainerInstances"): containers.describe_container_instances,
            ("ec2", "DescribeSpotPriceHistory"): spot.handle,
            ("pricing", "GetProducts"): pricing.get_products,
            ("pricing", "DescribeServices"): pricing.describe_services,
        }

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Emulator:
        self._server = _GapFillingServer(HOST, self.port, self.handlers)
        self._server.start()
        # moto's backends live in this process: a new emulator starts from an empty AWS even when an
        # earlier one (a test, a previous demo in the same interpreter) left resources behind.
        self.reset()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Forget every resource and record (moto's reset plus the emulator's own state)."""
        self._post("/moto-api/reset", {})
        self._post("/moto-api/config", {"batch": {"use_docker": False}})
        self.state.clear()

    def seed_history(self, region: str, frames: HistoryFrames) -> SeedCounts:
        """Make `frames` (store columns) visible through Batch, ECS, EC2 and CloudWatch Logs."""
        return HistorySeeder(self.state, self.account_id, region, self.now).seed(frames)

    def _post(self, path: str, payload: object) -> None:
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
