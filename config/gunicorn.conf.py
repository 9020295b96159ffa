"""gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value comes from the environment (defaults in brackets):

    GUNICORN_BIND             address to listen on [0.0.0.0:$PORT, PORT=8000]
    GUNICORN_WORKERS          worker processes [WEB_CONCURRENCY, else 2 x CPUs + 1]
    GUNICORN_WORKER_CLASS     gunicorn's worker class [gthread]
    GUNICORN_THREADS          threads per worker [4]
    GUNICORN_TIMEOUT          seconds a request may take before its worker is restarted [120]
    GUNICORN_GRACEFUL_TIMEOUT seconds a worker gets to finish its requests on restart/stop [30]
    GUNICORN_KEEPALIVE        seconds an idle keep-alive connection stays open [5]
    GUNICORN_MAX_REQUESTS     requests before a worker is replaced (0 = never) [1000, ±10% jitter]
    GUNICORN_LOG_LEVEL        [info]
    GUNICORN_FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-* [127.0.0.1]

The access log goes to stdout with each request's id (the X-Request-ID the app answers with,
blogimages.request_id), so an access line, the app's log lines and a traceback can be joined.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Threads, not one request per process: a chat answer streamed as server-sent events (or a slow
# client) holds one thread for as long as it lasts, and the worker's other threads keep answering.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
threads = _int("GUNICORN_THREADS", 4)
# Inline generation (the tester, /v1) waits for a provider: longer than gunicorn's 30 s default,
# but bounded, so a stuck call frees its worker.
timeout = _int("GUNICORN_TIMEOUT", 120)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = "-"
errorlog = "-"
# Combined log format plus the request id and the time taken (microseconds).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" request_id=%({x-request-id}o)s %(D)sus'
