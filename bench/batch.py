"""Batch throughput and pipeline overhead. Prints figures; asserts nothing.

    python bench/batch.py [--latency 1.0] [--sections 24] [--concurrency 1 4 8] [--workers 1 2] [--rounds 1]
                          [--images 40]

Part 1 starts real Celery workers (threads pool, as the README recommends for remote
providers) on Redis for each concurrency — `--workers N` processes reading one queue, the
concurrency split between them (default one; the README recommends one per core; several values are
run side by side, alternating, `--rounds` times) — and runs a 24-section batch against a loopback
OpenAI-style host that takes `--latency` seconds per image, then compares the wall time (until
the batch is finished: every image stored with its thumbnail and sidecar) with the ideal
latency x ceil(sections / concurrency), and prints the workers' CPU per image (all processes);
after each round a bare HTTP client fetches the same images (what the host and this machine cost
with nothing stored), and each layout's wall time is printed as a ratio to it too. With
`--rounds` above 1, each layout's median and range over the rounds close the part.
Part 2 measures the pipeline's own cost per image (validate, store original, thumbnail,
sidecar, rows) with a zero-latency provider that returns a realistic 1024x1024 PNG.

Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0). Uses DATABASE_URL if set,
otherwise a temporary SQLite file shared with the worker.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(tmp: Path) -> tuple[str, str]:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = db_url
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ["BLOGIMAGES_TEST_PROVIDERS"] = json.dumps({"placeholder": {"BACKEND": "x"}})
    os.environ["BLOGIMAGES_TEST_QUEUE"] = f"blogimages-bench-{os.getpid()}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.worker_settings"
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-only-{os.urandom(24).hex()}")
    os.environ.setdefault("BLOGIMAGES_LOG_LEVEL", "WARNING")
    # Like production, for this process and the worker it starts (which inherits the
    # environment): DEBUG keeps every query in memory and slows each one.
    os.environ["DJANGO_DEBUG"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return db_url, os.environ["MEDIA_ROOT"]


def realistic_png(size: int = 1024) -> bytes:
    """A smooth gradient with grain: compresses like a generated picture, not like a flat card."""
    import random

    from PIL import Image, ImageFilter

    base = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    rng = random.Random(7)
    noise = Image.frombytes("L", (size, size), bytes(rng.randrange(256) for _ in range(size * size)))
    noise = noise.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")
    image = Image.blend(base, noise, 0.35)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def batch_throughput(args, db_url: str, media_root: str, tmp: Path) -> None:
    from django.conf import settings

    from blogimages import batches
    from blogimages.providers import providers
    from config.celery import app
    from posts.models import Post, Section
    from tests.fake_image_host import FakeImageHost

    host = FakeImageHost(latency=args.latency).start()
    try:
        config = {"fake": host.provider_config(timeout=60)}
        settings.BLOGIMAGES_PROVIDERS = config
        settings.BLOGIMAGES_DEFAULT_PROVIDER = "fake"
        providers.reset()
        providers["fake"]  # a warm web process: the backend module is imported before the first request
        app.conf.task_always_eager = False
        print(f"Batch of {args.sections} sections, provider latency {args.latency:.2f} s per image; "
              f"layout PxT = P worker processes reading one queue, T threads each (-P threads -c T)")
        print(f"{'layout':>11} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'start s':>8} {'first task s':>13} "
              f"{'worker CPU ms/image':>19}")
        warm_web_process(batches, Post, Section, app)
        seen_before = 0
        # (concurrency, processes) -> every round's wall / ideal, first task, wall / bare client
        runs: dict[tuple[int, int], dict[str, list[float]]] = {}
        for round_ in range(args.rounds):
            for concurrency in args.concurrency:
                # A and B alternate round by round, so a change in the machine's load falls on both.
                layouts = args.workers if round_ % 2 == 0 else args.workers[::-1]
                walls = {}
                for processes in layouts:
                    seen_before, walls[processes], ratio, first_task = run_batch(
                        args, concurrency, processes, batches, Post, Section, app, config, media_root, db_url, tmp,
                        host, seen_before)
                    figures = runs.setdefault((concurrency, processes), {"ratio": [], "first": [], "bare": []})
                    figures["ratio"].append(ratio)
                    figures["first"].append(first_task)
                if not args.no_floor:
                    wall = bare_client_floor(host, args.sections, concurrency)
                    ideal = args.latency * math.ceil(args.sections / concurrency)
                    # What blogimages adds beyond what this machine costs a bare client for the
                    # same images from the same host in the same minute.
                    beyond = ", ".join(f"{p}x{math.ceil(concurrency / max(1, min(p, concurrency)))} {seconds / wall:.2f}"
                                       for p, seconds in walls.items())
                    print(f"{'bare client':>11} {wall:>8.2f} {ideal:>8.2f} {wall / ideal:>6.2f} "
                          f"{'':>8} {'':>13} {'':>19}  load {os.getloadavg()[0]:.1f}; "
                          f"wall / bare client: {beyond}", flush=True)
                    for processes, seconds in walls.items():
                        runs[(concurrency, processes)]["bare"].append(seconds / wall)
                    seen_before = len(host.requests)
        if args.rounds > 1:
            print_summary(runs, args.rounds)
    finally:
        host.stop()


def print_summary(runs: dict[tuple[int, int], dict[str, list[float]]], rounds: int) -> None:
    """Median and range of each layout over the rounds: one round moves by a few hundredths
    with the shared machine's load, and the targets are a few hundredths wide."""
    def spread(values: list[float], digits: int) -> str:
        if not values:
            return "-"
        return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})")

    print(f"over {rounds} rounds, median (min-max):")
    for (concurrency, processes), figures in runs.items():
        layout = f"{max(1, min(processes, concurrency))}x{math.ceil(concurrency / max(1, min(processes, concurrency)))}"
        print(f"{layout:>11}  wall / ideal {spread(figures['ratio'], 2)}  first task s {spread(figures['first'], 2)}"
              f"  wall / bare client {spread(figures['bare'], 2)}", flush=True)


def run_batch(args, concurrency: int, processes: int, batches, Post, Section, app, config, media_root, db_url,
              tmp: Path, host, seen_before: int) -> tuple[int, float, float, float]:
    """One batch on `processes` worker processes that share one queue, `concurrency` threads in all:
    (the host's request count after it, its wall time, wall / ideal, seconds to its first task)."""
    from django.utils import timezone

    from blogimages.models import ImageOutput
    from tests.celery_worker import Worker

    processes = max(1, min(processes, concurrency))
    threads = math.ceil(concurrency / processes)
    layout = f"{processes}x{threads}"
    post = Post.objects.create(title=f"Bench {layout}", slug=f"bench-{layout}-{time.time_ns()}")
    Section.objects.bulk_create(
        Section(post=post, order=i, key=f"s{i}", heading=f"Section {i}") for i in range(args.sections)
    )
    queue = f"blogimages-bench-{os.getpid()}-{time.time_ns()}"
    workers = []
    for index in range(processes):
        log_dir = tmp / f"{queue}-{index}"
        log_dir.mkdir()
        workers.append(Worker(providers=config, media_root=media_root, log_dir=log_dir, concurrency=threads,
                              database_url=db_url, queue=queue, name=f"{queue}-{index}"))
    app.conf.task_default_queue = queue
    try:
        for worker in workers:
            worker.start()
        requested_at = timezone.now()
        cpu_before = sum(_process_cpu_seconds(worker.proc.pid) for worker in workers)
        started = time.monotonic()
        # The sections only: the post's featured and social slots would make it
        # sections + 2 images, and the ideal is computed for the sections.
        batch = batches.start_post_batch(post=post, sections=[f"s{i}" for i in range(args.sections)],
                                         overrides={"width": 256, "height": 256}).batch
        start_call = time.monotonic() - started
        while True:
            batch.refresh_from_db()
            if batch.is_finished:
                break
            if time.monotonic() - started > 600:
                raise SystemExit("batch did not finish in 600 s")
            time.sleep(0.02)
        wall = time.monotonic() - started
        worker_cpu = sum(_process_cpu_seconds(worker.proc.pid) for worker in workers) - cpu_before
    finally:
        for worker in workers:
            worker.stop()
        if args.keep_log:
            Path(args.keep_log).write_text("".join(worker.log() for worker in workers))
    ideal = args.latency * math.ceil(batch.total / (processes * threads))
    status = "" if batch.status == "succeeded" else f"  ({batch.status}: {batch.failed_count} failed)"
    first = ImageOutput.objects.filter(batch=batch).order_by("started_at").values_list(
        "started_at", flat=True).first()
    first_task = (first - requested_at).total_seconds() if first else float("nan")
    print(f"{layout:>11} {wall:>8.2f} {ideal:>8.2f} {wall / ideal:>6.2f} {start_call:>8.2f} "
          f"{first_task:>13.2f} {worker_cpu * 1000 / max(batch.total, 1):>19.1f}{status}  "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if args.timeline:
        print_timeline(batch, requested_at, started, host, seen_before, "".join(w.log() for w in workers))
    return len(host.requests), wall, wall / ideal, first_task


_FLOOR_CLIENT = """
import sys, time, httpx
from concurrent.futures import ThreadPoolExecutor
url, key, sections, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = httpx.Client(limits=httpx.Limits(max_connections=concurrency), timeout=60)
def one(i):
    client.post(url, json={"prompt": f"floor {i}", "model": "flux-test", "size": "256x256", "n": 1},
                headers={"Authorization": f"Bearer {key}"}).raise_for_status()
one(-1)  # connected and warm, like a worker after its warm-up
started = time.monotonic()
with ThreadPoolExecutor(concurrency) as pool:
    list(pool.map(one, range(sections)))
print(time.monotonic() - started)
"""


def bare_client_floor(host, sections: int, concurrency: int) -> float:
    """The same images from the same loopback host by a bare HTTP client (its own process,
    `concurrency` threads, nothing stored): what the host and the loopback cost on this
    machine beyond the ideal, which no worker can beat."""
    import subprocess

    from tests.fake_image_host import API_KEY

    done = subprocess.run([sys.executable, "-c", _FLOOR_CLIENT, f"{host.base_url}/images/generations", API_KEY,
                           str(sections), str(concurrency)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def reference_loop() -> str:
    """How fast this machine is today, printed beside every run: the same shared machine has
    measured 0.42 to 0.72 s for this loop on different days, and every figure here moves with it."""
    started = time.process_time()
    sum(i * i for i in range(10**7))
    return f"reference loop sum(i*i for i in range(10**7)) {time.process_time() - started:.2f} s of CPU"


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads: the worker's pool), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_web_process(batches, Post, Section, app) -> None:
    """One batch start before the measured ones, on a queue no worker reads (emptied and its
    rows deleted after): a web process that has served a request has its broker connection,
    its rate-limit store and its queries' first use behind it, so the measured start is a
    request's cost, not the process's first one's."""
    import redis
    from django.conf import settings
    from django.core.signals import request_finished

    from blogimages.models import GenerationBatch, ImageOutput

    queue, app.conf.task_default_queue = app.conf.task_default_queue, f"blogimages-bench-warmup-{os.getpid()}"
    post = Post.objects.create(title="Warm-up", slug=f"bench-warmup-{time.time_ns()}")
    Section.objects.create(post=post, order=0, key="s0", heading="Warm-up")
    try:
        batch = batches.start_post_batch(post=post, sections=["s0"], overrides={"width": 256, "height": 256}).batch
    finally:
        redis.Redis.from_url(settings.REDIS_URL).delete(app.conf.task_default_queue)
        app.conf.task_default_queue = queue
    ImageOutput.objects.filter(batch=batch).delete()
    GenerationBatch.objects.filter(pk=batch.pk).delete()
    # What a web process does once it has served its first request (blogimages.heap).
    request_finished.send(sender=warm_web_process)


def print_timeline(batch, requested_at, started: float, host, seen_before: int, log: str) -> None:
    """Per image, seconds after the request: task received by the worker and begun (its
    log), claimed (started_at), provider called (the loopback host saw the request, in
    call order), finished (finished_at), task done (its log)."""
    import re
    from datetime import datetime

    from blogimages.models import ImageOutput

    calls = sorted(seen.at - started for seen in host.requests[seen_before:])
    stamp = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/MainProcess\] Task \S+\[([0-9a-f-]+)\] "
    local = datetime.now().astimezone().tzinfo
    received, done, begun = {}, {}, {}

    def seconds(text: str) -> float:
        at = datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=local)
        return (at - requested_at).total_seconds()

    for match in re.finditer(stamp + r"received", log):
        received[match[2]] = seconds(match[1])
    for match in re.finditer(stamp + r"succeeded in ([0-9.]+)s", log):
        done[match[2]] = seconds(match[1])
        begun[match[2]] = done[match[2]] - float(match[3])
    rows = list(ImageOutput.objects.filter(batch=batch).order_by("started_at").values_list(
        "pk", "task_id", "started_at", "finished_at"))
    nan = float("nan")
    print(f"    {'image':>7} {'received':>8} {'begun':>6} {'claimed':>8} {'called':>7} {'finished':>9} {'done':>6}"
          f"   (s after the request; host max in flight {host.max_in_flight})")
    for index, (pk, task_id, claimed, finished) in enumerate(rows):
        called = calls[index] if index < len(calls) else nan
        print(f"    {pk:>7} {received.get(task_id, nan):>8.2f} {begun.get(task_id, nan):>6.2f} "
              f"{(claimed - requested_at).total_seconds():>8.2f} {called:>7.2f} "
              f"{(finished - requested_at).total_seconds():>9.2f} {done.get(task_id, nan):>6.2f}")


def _instant_provider(data: bytes):
    from django.conf import settings

    from blogimages.providers import providers
    from blogimages.providers.base import GeneratedImage, GenerationResult
    from blogimages.providers.testing import RecordingProvider

    class Instant(RecordingProvider):
        def generate(self, request):
            return GenerationResult(
                images=tuple(GeneratedImage(data=data, mime_type="image/png", seed=request.seed_for(i))
                             for i in range(request.n)),
                model="instant",
            )

    settings.BLOGIMAGES_PROVIDERS = {"instant": {"BACKEND": "x"}}
    providers.reset()
    providers._settings = {"instant": {"BACKEND": "x"}}
    providers.__dict__["settings"] = providers._settings
    providers["instant"] = Instant(alias="instant")


def naive_floor(data: bytes, index: int) -> None:
    """The floor the store path is compared with: decode once, a LANCZOS thumbnail, WebP q80
    method 4, three file writes, one INSERT and one UPDATE."""
    from django.core.files.base import ContentFile
    from django.utils import timezone
    from PIL import Image

    from blogimages.models import ImageOutput
    from blogimages.storage import get_storage

    row = ImageOutput.objects.create(prompt_text=f"floor {index}", provider="instant", model="instant",
                                     status="running")
    image = Image.open(io.BytesIO(data))
    image.load()
    thumb = image.convert("RGB")
    thumb.thumbnail((384, 384), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80, method=4)
    store = get_storage()
    stem = f"floor/{index}-{time.time_ns()}"
    store.save(f"{stem}.png", ContentFile(data))
    store.save(f"{stem}.thumb.webp", ContentFile(out.getvalue()))
    store.save(f"{stem}.json", ContentFile(json.dumps({"id": row.pk, "prompt": row.prompt_text}).encode()))
    ImageOutput.objects.filter(pk=row.pk).update(file=f"{stem}.png", thumbnail=f"{stem}.thumb.webp",
                                                 sidecar=f"{stem}.json", status="succeeded",
                                                 finished_at=timezone.now())


def store_once(index: int, size: int = 1024) -> None:
    from blogimages import generation

    [output] = generation.generate(prompt=f"overhead {index}", provider="instant",
                                   overrides={"width": size, "height": size})
    assert output.status == "succeeded", output.error


def pipeline_overhead(args) -> None:
    """blogimages' store path and the naive floor, alternating in one run (medians)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    data = realistic_png()
    _instant_provider(data)
    figures: dict[str, dict[str, list[float]]] = {"blogimages": {"wall": [], "cpu": []},
                                                  "naive floor": {"wall": [], "cpu": []}}
    runners = {"blogimages": store_once, "naive floor": lambda i: naive_floor(data, i)}
    for i in range(args.images + 3):
        order = list(runners) if i % 2 == 0 else list(runners)[::-1]
        for name in order:
            wall, cpu = time.perf_counter(), time.process_time()
            runners[name](i)
            if i >= 3:  # warm-up
                figures[name]["wall"].append((time.perf_counter() - wall) * 1000)
                figures[name]["cpu"].append((time.process_time() - cpu) * 1000)
    queries = {}
    for name, run in runners.items():
        with CaptureQueriesContext(connection) as captured:
            run(10_000)
        queries[name] = len([q for q in captured.captured_queries
                             if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))])
    print(f"\nStore path per 1024x1024 image ({len(data) / 1024:.0f} KiB PNG, zero-latency provider, "
          f"{args.images} images each, alternating):")
    print(f"{'':<12} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7} {'queries':>8}")
    for name, values in figures.items():
        walls = sorted(values["wall"])
        p95 = walls[max(0, math.ceil(0.95 * len(walls)) - 1)]
        print(f"{name:<12} {statistics.median(walls):>10.1f} {p95:>8.1f} {statistics.median(values['cpu']):>7.1f} "
              f"{queries[name]:>8}")
    ratio = statistics.median(figures["blogimages"]["wall"]) / statistics.median(figures["naive floor"]["wall"])
    cpu_ratio = statistics.median(figures["blogimages"]["cpu"]) / statistics.median(figures["naive floor"]["cpu"])
    print(f"ratio to the floor: {ratio:.2f} wall, {cpu_ratio:.2f} CPU (target <= 0.80); "
          f"queries {queries['blogimages']} (target <= 4)")


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_child(kind: str, source: str) -> None:
    """Run in a child process: the peak RSS one image adds (Linux VmHWM, reset just before)."""
    data = Path(source).read_bytes()
    _instant_provider(data)
    from PIL import Image

    # Warm up with a small image: imports, codecs, the database connection, Pillow's arenas.
    Image.open(io.BytesIO(realistic_png(256))).load()
    _instant_provider(realistic_png(256))
    store_once(0, 256)
    _instant_provider(data)
    import gc

    gc.collect()
    before = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS
    if kind == "decode floor":
        image = Image.open(io.BytesIO(data))
        image.load()
        image.close()
    else:
        store_once(1, Image.open(source).width)
    print(json.dumps({"kb": _rss_kib("VmHWM") - before}))


def peak_memory(args) -> None:
    import subprocess

    size = 2048
    source = Path(tempfile.mkdtemp(prefix="bench-peak-")) / "image.png"
    source.write_bytes(realistic_png(size))
    results: dict[str, list[float]] = {"decode floor": [], "blogimages": []}
    for _round in range(3):
        for kind in results:
            done = subprocess.run([sys.executable, __file__, "--peak-child", kind, "--peak-source", str(source)],
                                  capture_output=True, text=True, env=dict(os.environ), check=True)
            results[kind].append(json.loads(done.stdout.strip().splitlines()[-1])["kb"] / 1024)
    floor, ours = statistics.median(results["decode floor"]), statistics.median(results["blogimages"])
    source.unlink()
    source.parent.rmdir()
    print(f"\nPeak memory added by one {size}x{size} image ({len(realistic_png(size)) / 2**20:.1f} MiB PNG; "
          f"peak RSS, median of 3 child processes each): "
          f"decode floor {floor:.1f} MB, blogimages {ours:.1f} MB, ratio {ours / floor:.2f} (target <= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--sections", type=int, default=24)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="worker processes sharing the queue and the --concurrency threads; several "
                             "values are run side by side, alternating")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every layout, alternating their order")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the bare HTTP client's run against the same host after each concurrency")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--timeline", action="store_true",
                        help="print each image's claim, provider call and finish times")
    parser.add_argument("--keep-log", help="copy the worker's log to this file")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--peak-child", help=argparse.SUPPRESS)
    parser.add_argument("--peak-source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_child:
        with tempfile.TemporaryDirectory() as tmp_name:
            setup(Path(tmp_name))
            _peak_child(args.peak_child, args.peak_source)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_url, media_root = setup(tmp)
        print(f"database: {db_url.split('://')[0]}, broker: Redis, worker pool: threads, DEBUG off · "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores · {reference_loop()}")
        if not args.skip_batch:
            batch_throughput(args, db_url, media_root, tmp)
        if not args.skip_store:
            pipeline_overhead(args)
            peak_memory(args)


if __name__ == "__main__":
    main()
