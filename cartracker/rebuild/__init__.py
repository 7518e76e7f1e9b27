"""Re-deriving the car list from the heads: a Durable Functions orchestration, and a CLI for local runs.

`orchestrator` decides what to do (pure, deterministic), `repair` does it (idempotent
writes over the ports), `activities` wrap `repair` as the orchestration's activities,
`local` runs the same orchestration inline, and `cli` is `python -m cartracker rebuild`.
"""

# The projections a rebuild knows, by the name in `POST /api/manage/projections/{name}/rebuild`.
VIEW_CAR_LIST = "car-list"
VIEWS = (VIEW_CAR_LIST,)

DEFAULT_PAGE_SIZE = 100  # heads per page of the row phase
MAX_PAGE_SIZE = 1000
