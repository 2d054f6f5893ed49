"""DialNexa (``/calls`` and ``/call-logs``): see ``api`` for paging, ``mapping`` for fields."""

from calllog_pipeline.providers.base import Provider
from calllog_pipeline.providers.dialnexa.api import CALL_LOGS, CALLS, DialNexaApi
from calllog_pipeline.providers.dialnexa.mapping import normalize

PROVIDER = Provider(
    name="dialnexa",
    title="DialNexa",
    api=DialNexaApi.from_env,
    endpoints=(CALLS, CALL_LOGS),
    normalize=normalize,
)
