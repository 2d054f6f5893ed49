"""How a table's columns appear in the Dagster catalog: the declared Arrow schema, descriptions included."""

import dagster as dg
import pyarrow as pa

from calllog_pipeline import schemas


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """The value of an asset's ``dagster/column_schema`` metadata (the UI's column list)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name,
                str(f.type),
                description=schemas.description(f),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
            for f in schema
        ]
    )
