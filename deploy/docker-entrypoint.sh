#!/bin/sh
# Wait for the database, migrate (an advisory lock keeps replicas from racing), then exec the process.
set -eu

wait_for_db() {
  python - <<'PY'
import sys, time
from sqlalchemy import text
from lti_tool.db import make_engine
from lti_tool.settings import load_settings
url = load_settings().resolved_database_url
for attempt in range(60):
    try:
        with make_engine(url).connect() as c:
            c.execute(text("SELECT 1"))
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001
        print(f"waiting for the database ({exc.__class__.__name__})", file=sys.stderr)
        time.sleep(2)
sys.exit("database not reachable after 120 s")
PY
}

case "${1:-serve}" in
  serve)
    wait_for_db
    adaptive-lti db upgrade
    exec gunicorn --config python:lti_tool.gunicorn_conf --bind "0.0.0.0:${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" lti_tool.wsgi:app
    ;;
  worker)
    wait_for_db
    shift
    exec adaptive-lti worker "$@"
    ;;
  *)
    exec adaptive-lti "$@"
    ;;
esac
