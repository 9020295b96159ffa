"""The store path's statements: a generated image costs at most 4 queries, whatever the provider;
made inline that includes its prompt and the one row of its request in the prompt history
(issue 21): the image row is inserted already claimed, so no claim UPDATE (issue 17)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from blogimages import batches, generation
from blogimages.models import BatchStatus, GenerationBatch, ImageOutput
from tests.conftest import png_bytes
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Not statements of ours: SQLite's BEGIN/COMMIT are logged, PostgreSQL's are not.
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")


def test_one_image_made_inline_is_stored_in_four_queries_with_its_prompt_and_history_row(recorder):
    generation.generate(prompt="warm-up", provider="test")  # content types, sessions... not ours
    with CaptureQueriesContext(connection) as queries:
        [output] = generation.generate(prompt="A lighthouse at dusk", provider="test")
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    assert output.status == "succeeded", output.error
    # The prompt, its prompt-history run, the row (inserted already claimed), the finish.
    assert len(statements) <= 4, "\n".join(statements)
    assert not any("attempts + 1" in sql for sql in statements), "a separate claim UPDATE"
    assert sum("blogimages_promptrun" in sql for sql in statements) == 1
    stored = ImageOutput.objects.get(pk=output.pk)
    assert stored.status == "succeeded" and stored.file.name and stored.thumbnail.name and stored.sidecar.name
    assert stored.attempts == 1 and stored.started_at is not None and stored.finished_at is not None


def test_a_batch_image_costs_at_most_four_queries_too(recorder):
    post = PostFactory()
    outputs = generation.queue_outputs(generation.build_request(prompt_text="p", provider="test"), prompt=None,
                                       post=post, section_key="intro",
                                       batch=GenerationBatch.objects.create(post=post, total=1))
    with CaptureQueriesContext(connection) as queries:
        generation.execute(outputs)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    # PostgreSQL: the claim starts the batch and the finish counts it in the same statements.
    assert len(statements) <= (2 if connection.vendor == "postgresql" else 4), "\n".join(statements)
    batch = GenerationBatch.objects.get(pk=outputs[0].batch_id)
    assert batch.status == BatchStatus.SUCCEEDED and batch.succeeded_count == 1 and batch.finished_at
    assert batch.started_at is not None and batch.started_at <= batch.finished_at


def test_a_batch_image_whose_claim_was_lost_is_not_counted(recorder):
    post = PostFactory()
    batch = GenerationBatch.objects.create(post=post, total=2)
    plan = generation.build_request(prompt_text="p", provider="test", overrides={"width": 32, "height": 32}, n=2)
    first, second = generation.queue_outputs(plan, prompt=None, post=post, section_key="intro", batch=batch)
    [mine] = generation.claim([first])
    assert GenerationBatch.objects.get(pk=batch.pk).status == BatchStatus.RUNNING
    ImageOutput.objects.filter(pk=mine.pk).update(attempts=mine.attempts + 1)  # another worker took it over
    result = generation.GenerationResult(images=(generation.GeneratedImage(data=png_bytes(32, 32),
                                                                           mime_type="image/png"),), model="m")
    with pytest.raises(generation.LostClaim):
        generation.store_image(mine, result.images[0], result)
    batch.refresh_from_db()
    assert (batch.succeeded_count, batch.failed_count, batch.status) == (0, 0, BatchStatus.RUNNING)
    # The attempt that holds the claim is counted, once; then the other image finishes the batch.
    generation.execute([second])
    batch.refresh_from_db()
    assert (batch.succeeded_count, batch.status) == (1, BatchStatus.RUNNING) and batch.finished_at is None


@pytest.mark.django_db  # in a test transaction: the tasks queued on commit do not run inside the count
def test_starting_a_batch_costs_the_same_queries_for_3_or_30_sections(recorder):
    from posts.models import Section

    counts = []
    for sections in (3, 30):
        post = PostFactory()
        Section.objects.bulk_create(Section(post=post, order=i, key=f"s{i}", heading=f"Section {i}")
                                    for i in range(sections))
        with CaptureQueriesContext(connection) as queries:
            started = batches.start_post_batch(post=post, provider="test")
        counts.append(len([q for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]))
        assert started.batch.total == ImageOutput.objects.filter(batch=started.batch).count() >= sections
    # Not one more per section (27 more sections): only SQLite's 999-variable limit may split
    # the one INSERT of every image row in two.
    assert counts[0] <= 10 and counts[1] - counts[0] <= (1 if connection.vendor == "sqlite" else 0), counts


def test_published_tasks_are_named_on_their_rows_in_one_statement(recorder):
    from datetime import UTC, datetime

    from blogimages import tasks
    from blogimages.models import OutputStatus

    plan = generation.build_request(prompt_text="p", provider="test", n=4)
    first, second, finished, unsent = generation.queue_outputs(plan, prompt=None)
    ImageOutput.objects.filter(pk=second.pk).update(status=OutputStatus.RUNNING)
    ImageOutput.objects.filter(pk=finished.pk).update(status=OutputStatus.FAILED, error="refused", task_id="old")
    due = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        tasks._record_tasks({first.pk: "task-1", second.pk: "task-2", finished.pk: "task-3"}, due)
    assert len([q for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]) == 1
    rows = {row.pk: (row.task_id, row.enqueued_at) for row in ImageOutput.objects.all()}
    # Queued and running rows name their own task; a finished row and an unsent one are untouched.
    assert rows[first.pk] == ("task-1", due) and rows[second.pk] == ("task-2", due)
    assert rows[finished.pk] == ("old", None) and rows[unsent.pk] == ("", None)


def test_the_finish_writes_every_stored_field_as_the_instance_holds_it(recorder):
    # _finish is plain SQL: each field's value must come back from the row as it was set
    # (files by name, JSON as JSON, money as Decimal, times as aware datetimes).
    [output] = generation.generate(prompt="A lighthouse at dusk", provider="test")
    stored = ImageOutput.objects.get(pk=output.pk)
    for name in generation.STORED_FIELDS:
        field = ImageOutput._meta.get_field(name)
        assert getattr(stored, field.attname) == getattr(output, field.attname), name
    assert stored.provider_metadata["call"]["images"] == 1 and stored.setting_snapshot and stored.finished_at


def test_a_task_reads_its_image_with_post_prompt_and_setting_in_one_query():
    from blogimages import tasks
    from tests.factories import ImageOutputFactory, ImagePromptFactory, ImageSettingFactory

    post, prompt, setting = PostFactory(), ImagePromptFactory(), ImageSettingFactory()
    made = ImageOutputFactory(post=post, prompt=prompt, setting=setting, section_key="intro",
                              setting_snapshot={"width": 64, "extra": {"a": [1, 2]}}, provider_metadata={"k": "v"})
    bare = ImageOutputFactory()
    orm = ImageOutput.objects.select_related("post", "prompt", "setting").get(pk=made.pk)
    for _ in range(2):  # compiled on the first read of a connection, reused on the next
        with CaptureQueriesContext(connection) as queries:
            read = tasks.read_output(made.pk)
            related = (read.post, read.prompt, read.setting)
        assert len(queries.captured_queries) == 1
        for mine, theirs in [(read, orm), *zip(related, (orm.post, orm.prompt, orm.setting), strict=True)]:
            assert type(mine) is type(theirs) and not mine._state.adding and mine._state.db == "default"
            assert {f.attname: getattr(mine, f.attname) for f in type(mine)._meta.concrete_fields} == \
                   {f.attname: getattr(theirs, f.attname) for f in type(theirs)._meta.concrete_fields}
    other = tasks.read_output(bare.pk)
    with CaptureQueriesContext(connection) as queries:
        assert other.pk == bare.pk and other.post is None and other.prompt is None and other.setting is None
    assert len(queries.captured_queries) == 0
    assert tasks.read_output(bare.pk + 1000) is None


@pytest.mark.parametrize("in_batch", [False, True])
def test_a_final_write_committed_just_before_the_connection_dropped_keeps_its_image(recorder, monkeypatch,
                                                                                    in_batch):
    # The database applied the finish, then the connection went before its answer came back;
    # the retry on a new connection finds the row no longer running. That is this attempt's own
    # write, not a takeover: the image stays stored with its files (and its batch counted once).
    # (SQLite's batch finish is a transaction of two statements: there the drop comes before its
    # commit, and the retry simply writes it.)
    from django.db.utils import OperationalError

    monkeypatch.setattr(generation, "FINAL_WRITE_RETRIES", (0.0,))
    post = PostFactory()
    batch = GenerationBatch.objects.create(post=post, total=1) if in_batch else None
    plan = generation.build_request(prompt_text="p", provider="test", overrides={"width": 32, "height": 32})
    outputs = generation.queue_outputs(plan, prompt=None, post=post, section_key="intro", batch=batch)
    dropped = []

    def answer_lost(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not dropped and ("succeeded" in [str(p) for p in (params or ())]) and sql.lstrip().startswith(
                ("UPDATE", "WITH finished")) and "blogimages_imageoutput" in sql:
            dropped.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return result

    with connection.execute_wrapper(answer_lost):
        generation.execute(outputs)
    assert dropped, "the finish was not reached"
    stored = ImageOutput.objects.get(pk=outputs[0].pk)
    assert stored.status == "succeeded" and stored.attempts == 1
    assert all(stored.__dict__[name] and getattr(stored, name).storage.exists(getattr(stored, name).name)
               for name in ("file", "thumbnail", "sidecar"))
    if in_batch:
        batch.refresh_from_db()
        assert (batch.succeeded_count, batch.status) == (1, BatchStatus.SUCCEEDED)


def test_a_claim_committed_just_before_the_connection_dropped_is_still_this_attempts(recorder, monkeypatch):
    # The claim was applied, its answer lost; the retry on a new connection finds the row
    # running. It is this attempt's own claim (running since the same instant): the image is
    # made now, not deferred until the claim goes stale.
    from django.db.utils import OperationalError

    monkeypatch.setattr(generation, "FINAL_WRITE_RETRIES", (0.0,))
    post = PostFactory()
    batch = GenerationBatch.objects.create(post=post, total=1)
    plan = generation.build_request(prompt_text="p", provider="test", overrides={"width": 32, "height": 32})
    outputs = generation.queue_outputs(plan, prompt=None, post=post, section_key="intro", batch=batch)
    dropped = []

    def answer_lost(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not dropped and "attempts + 1" in sql:
            dropped.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return result

    with connection.execute_wrapper(answer_lost):
        owned = generation.execute(outputs)
    assert dropped and [o.pk for o in owned] == [outputs[0].pk]
    stored = ImageOutput.objects.get(pk=outputs[0].pk)
    assert (stored.status, stored.attempts) == ("succeeded", 1) and len(recorder.requests) == 1
    batch.refresh_from_db()
    assert (batch.succeeded_count, batch.status) == (1, BatchStatus.SUCCEEDED) and batch.started_at
