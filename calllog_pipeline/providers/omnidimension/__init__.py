"""OmniDimension: see ``api`` for paging, ``mapping`` for fields."""

from calllog_pipeline.providers.base import Provider
from calllog_pipeline.providers.omnidimension.api import CALL_LOGS, OmniDimensionApi
from calllog_pipeline.providers.omnidimension.mapping import normalize

PROVIDER = Provider(
    name="omnidimension",
    title="OmniDimension",
    api=OmniDimensionApi.from_env,
    endpoints=(CALL_LOGS,),
    normalize=normalize,
)
