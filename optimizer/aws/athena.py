"""Amazon Athena through pyathena: a table's catalogue entry, and queries returning DataFrames.

Used by the bill's Athena path (`optimizer.billing.athena`), which builds the SQL; this module only
runs it. The boto3 session comes from the `SessionFactory` (profiles, AssumeRole, endpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optimizer.aws.permissions import declare
from optimizer.errors import ConfigError, UserError

if TYPE_CHECKING:
    import boto3
    import pandas as pd

PERMISSIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetTableMetadata",
    "glue:GetTable",
    "glue:GetPartitions",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
    "s3:GetBucketLocation",
)
"""What the role needs: Athena, the Glue catalogue of the CUR table, the CUR bucket (read) and the
query result location (write)."""
declare("billing", *PERMISSIONS)


@dataclass(frozen=True)
class TableInfo:
    columns: dict[str, str]  # name -> Glue type, partition keys included
    partitions: tuple[str, ...]


class AthenaClient:
    """One pyathena connection on a boto3 session: table metadata and queries."""

    def __init__(
        self,
        session: boto3.Session,
        *,
        region: str,
        database: str,
        workgroup: str | None,
        output_s3_uri: str | None,
        poll_interval: float = 1.0,
        endpoint_url: str | None = None,
    ) -> None:
        """`endpoint_url`: where the queries go (`AwsSettings.endpoint_for("athena")`: an emulator, a
        VPC endpoint; None for AWS's own). Without it the configured endpoint was ignored and the
        queries went to public AWS. pyathena gives its S3 and Glue clients the same endpoint."""
        from pyathena import connect

        if not workgroup and not output_s3_uri:
            raise ConfigError(
                "billing.athena_workgroup or billing.athena_output_s3_uri (BATCHOPT_BILLING__ATHENA_...):"
                " one is needed to run Athena queries"
            )
        self.database = database
        self.connection = connect(
            session=session,
            region_name=region,
            schema_name=database,
            work_group=workgroup,
            s3_staging_dir=output_s3_uri,
            poll_interval=poll_interval,
            **({"endpoint_url": endpoint_url} if endpoint_url else {}),
        )

    @property
    def client(self) -> Any:
        """The botocore Athena client pyathena calls (tests attach a Stubber to it)."""
        return self.connection.client

    def table(self, name: str, catalog: str = "AwsDataCatalog") -> TableInfo:
        try:
            meta = self.client.get_table_metadata(
                CatalogName=catalog, DatabaseName=self.database, TableName=name
            )
        except Exception as exc:  # botocore ClientError, endpoint errors: one line for the user
            raise UserError(f"Athena table {self.database}.{name}: {exc}") from None
        table = meta["TableMetadata"]
        partitions = tuple(c["Name"] for c in table.get("PartitionKeys", []))
        columns = {
            c["Name"]: c.get("Type", "string")
            for c in [*table.get("Columns", []), *table.get("PartitionKeys", [])]
        }
        return TableInfo(columns, partitions)

    def runner(self) -> Callable[[str], pd.DataFrame]:
        """A function running one query and returning its rows as a DataFrame."""
        import pandas as pd
        from pyathena.error import Error as AthenaError

        def run(sql: str) -> pd.DataFrame:
            cursor = self.connection.cursor()
            try:
                cursor.execute(sql)
                names = [d[0] for d in cursor.description or []]
                return pd.DataFrame(cursor.fetchall(), columns=names)
            except AthenaError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(f"Athena query failed: {first}") from None
            finally:
                cursor.close()

        return run

    def close(self) -> None:
        self.connection.close()
