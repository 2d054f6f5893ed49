"""Provider API simulator: a real HTTP server imitating the three Voice-AI providers' call-log APIs.

Used as the pipeline's embedded default, by tests, the demo and benchmarks. Everything is derived
from `SimulatorConfig.seed`: the same seed and clock give the same bytes.

What it imitates (reference pages in /work/shared/provider-api/):

- DialNexa, base `{url}/dialnexa/v1`: `GET /calls` (newest first; agent_id, status, from/to, page,
  limit) and `GET /call-logs` (agent_id, status list, sentiment, start_date/end_date,
  duration_min/max, created_at=asc|desc; ETag / If-None-Match -> 304).
- LeadConnector, base `{url}/leadconnector`: `GET /voice-ai/dashboard/call-logs` (Version header,
  locationId, startDate/endDate epoch ms, agentId, contactId, callType, actionType, sortBy/sort,
  page/pageSize).
- OmniDimension, base `{url}/omnidimension/api/v1`: `GET /calls/logs` (pageno, pagesize, agentid,
  call_status, bulk_call_id; no date filter, newest first).
- `GET /_sim/health` -> `{"ok": true}`; `GET /_sim/stats` -> the counters of `stats()`.

Quirks reproduced in realistic proportions: DialNexa `duration_seconds` vs `duration_sec`, status
spellings (`no-answer`/`no_answer`/`did_not_pick`, `in-progress`/`in_progress`, created, initiated,
sent, received, retry_expired...), call-log ids that are `log_...` + `call_id` or just the call id,
a lean record shape like the pages' second examples, `totalPages` only sometimes, all 13 end
reasons. LeadConnector: all eight action types with the page's parameter shapes, CUSTOM_ACTION
secrets (authenticationValue, `Authorization: Bearer` header entries, `?token=` URLs), ~3% trial
calls, `bot:`/`human:` transcripts. OmniDimension: zone-less `MM/DD/YYYY HH:MM:SS` times in
`omni_timezone`, `M:S` durations, `false` for null, Widget-Chat records, per-turn latencies and
function calls, webhook payloads as JSON strings embedding `call_sid: secret_key_...`.
Bad records (`bad_record_rate`): DialNexa `created_at` null or "not-a-date"; LeadConnector
without `id` or with `createdAt` null; OmniDimension `time_of_call` "" or "13/45/2026 99:00:00".

Time: call i of a provider's UTC day has a created time strictly increasing in i, so a window is
an index range found by binary search (a page of a million-calls day costs O(log n)). Only calls
created at or before the sim clock exist. Sim clock = (`now` or wall clock at start) + wall time
elapsed + requests served x `clock_step_s` (+ `SimulatorServer.advance()`). Calls ring, then
(if answered) are in progress for their duration, then end; their analysis (sentiment, summary,
analysis, end_reason, extracted data, webhooks) appears 1-15 minutes after the end.

Choices where the reference pages leave behaviour unknown:

- DialNexa `from`/`to`: ISO 8601; `from` inclusive, `to` exclusive; a timestamp without offset is
  UTC. Timestamps are rendered in UTC (`...Z`).
- DialNexa `start_date`/`end_date`: UTC calendar days, both inclusive.
- DialNexa status filter: any spelling matches every spelling of the same status (`no_answer`
  matches `no-answer`, `no_answer` and `did_not_pick`). Voicemail calls are `completed` with
  end_reason `voicemail_detected`. `sent` = dispatched, never connected; `received` = inbound.
- DialNexa errors: 400 `{"error": {"code", "message"}}` for limit > 100, page < 1, bad dates or
  unknown enum values. Rate-limit headers are sent on every response when a limit is configured;
  `X-RateLimit-Reset` is epoch seconds, `Retry-After` whole seconds (429 only). `sort by duration`
  is described but has no documented parameter, so it is not offered.
- ETag: a quoted hash of the body; 304 has an empty body. A page's ETag changes when any record on it
  changes (late updates, arrivals).
- LeadConnector: missing Version -> 400; missing locationId -> 422; another locationId -> 403
  ("The token does not have access to this location."); validation errors -> 422 NestJS-style
  `{"statusCode", "message", "error"}`. `endDate` inclusive (window [startDate, endDate]);
  `timezone` is accepted and ignored (epoch ms are absolute). `sort` defaults to `descend`; duration
  ties keep newest first. Rate-limit headers on every response; without a configured limit the
  published burst (100 per 10 s) is reported but not enforced. A daily budget of 200,000 counts
  requests since start. An ongoing call is listed with duration 0, no actions, empty transcript.
- OmniDimension: pagesize > 150 or bad values -> 422 FastAPI-style `{"detail": [...]}`; ongoing
  calls are listed with call_status "in-progress" (the call_status filter accepts only the four
  documented values). `time_of_call` is the call's start in `omni_timezone`. Channels are
  `Phone-Call`, `Web-Call` and `Widget-Chat` (chats have duration 0). Bulk-call membership shows in
  `call_request_id` (`{"id": <bulk id>, "type_of_request": "bulk_call"}`). The agent id (`agentid`
  filter) appears in the webhook payload as `bot_id`. 429 carries no headers.
- Rate limits are sliding windows per provider over wall time; checked after auth and the
  provider's header checks, before parameter validation. Faults are decided after validation, by
  a seeded per-request counter: server_error -> 500/502/503 JSON, stall -> sleep `stall_s` then
  answer, truncated -> 200 with half the body, malformed -> 200 with invalid JSON.
- Ground truth (`SimulatorServer.truth`) uses true created times, includes bad records keyed by
  their id, and cannot include LeadConnector records that lack an `id`.
- Filters (agent, status, ...) scan the date-bounded window once (O(window)); LeadConnector
  `sortBy=duration` holds the window's keys in memory. Unfiltered paging is O(log n + page).
- Calls exist from max(now - history_days, 2000-01-01); OmniDimension ids count calls from
  2000-01-01, so they are stable across restarts and increase with created time.
"""

from .app import build_app
from .config import Faults, Incident, RateLimit, SimulatorConfig
from .server import SimulatorServer, add_arguments, config_from_args, serve

__all__ = [
    "Faults",
    "Incident",
    "RateLimit",
    "SimulatorConfig",
    "SimulatorServer",
    "add_arguments",
    "build_app",
    "config_from_args",
    "serve",
]
