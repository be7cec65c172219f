"""What a command needs, built lazily so `--help` and pure commands never touch the store or AWS."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from optimizer.aws.session import SessionFactory
    from optimizer.config import Settings


class CliContext:
    """Settings, the store engine and the AWS session factory, each made on first use."""

    def __init__(self, config_file: str | None = None) -> None:
        self.config_file = config_file

    @cached_property
    def settings(self) -> Settings:
        from optimizer.config import load_settings

        return load_settings(self.config_file)

    @cached_property
    def engine(self) -> Engine:
        """The store, checked to be migrated (commands that migrate use `raw_engine`)."""
        from optimizer.store.engine import require_current_schema

        require_current_schema(self.raw_engine)
        return self.raw_engine

    @cached_property
    def raw_engine(self) -> Engine:
        from optimizer.store.engine import create_store_engine

        return create_store_engine(self.settings.store.database_url)

    @cached_property
    def sessions(self) -> SessionFactory:
        from optimizer.aws.session import SessionFactory

        return SessionFactory(self.settings.aws)

    def close(self) -> None:
        if "raw_engine" in self.__dict__:
            self.raw_engine.dispose()
