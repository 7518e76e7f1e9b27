"""Re-deriving a projection from the heads: a Durable Functions orchestration, and a CLI for local runs.

`orchestrator` decides what to do (pure, deterministic), `repair` does it (idempotent
writes over the ports, for any registered projection), `activities` wrap `repair` as
the orchestration's activities, `local` runs the same orchestration inline, and `cli`
is `python -m cartracker rebuild NAME`.
"""

from cartracker.projection.registry import names

# The projections a rebuild knows, by the name in `POST /api/manage/projections/{name}/rebuild`
# (the registry's; kept here for the OpenAPI document, which reads it from this module).
VIEWS = names()

DEFAULT_PAGE_SIZE = 100  # heads per page of the row phase
MAX_PAGE_SIZE = 1000
