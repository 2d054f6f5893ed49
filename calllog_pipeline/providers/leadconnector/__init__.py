"""HighLevel / LeadConnector Voice AI: see ``api`` for paging, ``mapping`` for fields."""

from calllog_pipeline.providers.base import Provider
from calllog_pipeline.providers.leadconnector.api import CALL_LOGS, LeadConnectorApi
from calllog_pipeline.providers.leadconnector.mapping import normalize

PROVIDER = Provider(
    name="leadconnector",
    title="LeadConnector Voice AI",
    api=LeadConnectorApi.from_env,
    endpoints=(CALL_LOGS,),
    normalize=normalize,
)
