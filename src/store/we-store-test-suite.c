/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "store/we-store-test-suite.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeWorkerRecord, we_worker_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WePluginConfig, we_plugin_config_free)

/* fixed instants, so round trips compare exactly and orders are known */
#define T0 G_GINT64_CONSTANT (1700000000123456)

typedef void (*StoreTestFunc) (WeStore *store);

typedef struct {
  WeStoreTestFactory factory;
  StoreTestFunc      func;
} StoreCase;

/* --- helpers ------------------------------------------------------------------ */

static JsonObject *
json_parse_object (const gchar *text)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
assert_json_equal (JsonObject *a, JsonObject *b)
{
  g_autoptr(JsonNode) na = NULL;
  g_autoptr(JsonNode) nb = NULL;

  if (a == NULL || b == NULL) {
    g_assert_true (a == b);
    return;
  }
  na = json_node_init_object (json_node_alloc (), a);
  nb = json_node_init_object (json_node_alloc (), b);
  if (!json_node_equal (na, nb)) {
    g_autofree gchar *sa = json_to_string (na, FALSE);
    g_autofree gchar *sb = json_to_string (nb, FALSE);
    g_assert_cmpstr (sa, ==, sb);
  }
}

static WeJob *
make_job (const gchar *user_id, const gchar *source_url, const gchar *profile_id,
          WeJobStatus status, gint64 created_at)
{
  WeJob *job = we_job_new ();

  job->id = we_uuid_new ();
  job->user_id = g_strdup (user_id);
  job->source_type = g_strdup ("url");
  job->source_url = g_strdup (source_url);
  job->profile_id = g_strdup (profile_id);
  job->output_config = json_parse_object ("{\"output_url\":\"file:///out\"}");
  job->status = status;
  job->created_at = created_at;
  job->updated_at = created_at;
  return job;
}

/* a job with every field set to something distinguishable */
static WeJob *
make_full_job (void)
{
  WeJob *job = we_job_new ();

  job->id = we_uuid_new ();
  job->user_id = g_strdup ("3f1c2a9e-0000-4000-8000-000000000001");
  job->source_type = g_strdup ("upload");
  job->source_url = g_strdup ("file:///srv/uploads/in put.mp4");
  job->profile_id = g_strdup ("720p_h264");
  job->output_config = json_parse_object (
    "{\"profile\":{\"id\":\"720p_h264\",\"width\":1280,\"segment_target_s\":30.5},"
    "\"webhooks\":[\"https://hooks.example/a\",\"https://hooks.example/b\"],"
    "\"publish\":null,\"output_url\":\"s3://bucket/out/\"}");
  job->status = WE_JOB_STATUS_PROCESSING;
  job->progress_pct = 42.25;
  job->fps = 29.97;
  job->speed = 1.5;
  job->eta_seconds = 17;
  job->error_code = g_strdup ("WE-JOB-007");
  job->error_message = g_strdup ("unsupported \"codec\" — 'ünïcödé' ✓");
  job->assigned_worker_id = g_strdup ("worker-7");
  job->retry_of = we_uuid_new ();
  job->media_info = json_parse_object (
    "{\"duration\":12.5,\"streams\":[{\"type\":\"video\",\"codec\":\"h264\"}],"
    "\"keyframes\":[0,2.002,4.004]}");
  job->created_at = T0;
  job->updated_at = T0 + 1;
  job->started_at = T0 + 2;
  job->finished_at = T0 + 3;
  return job;
}

static WeTask *
make_task (const gchar *job_id, gint sequence_index)
{
  WeTask *task = we_task_new ();

  task->id = we_uuid_new ();
  task->job_id = g_strdup (job_id);
  task->sequence_index = sequence_index;
  task->start_time_sec = sequence_index * 10.0;
  task->end_time_sec = (sequence_index + 1) * 10.0;
  task->updated_at = T0 + sequence_index;
  return task;
}

static GPtrArray *
make_tasks (const gchar *job_id, guint n)
{
  GPtrArray *tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (tasks, make_task (job_id, (gint) i));
  return tasks;
}

static void
assert_job_equal (const WeJob *a, const WeJob *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->user_id, ==, b->user_id);
  g_assert_cmpstr (a->source_type, ==, b->source_type);
  g_assert_cmpstr (a->source_url, ==, b->source_url);
  g_assert_cmpstr (a->profile_id, ==, b->profile_id);
  assert_json_equal (a->output_config, b->output_config);
  g_assert_cmpint (a->status, ==, b->status);
  g_assert_cmpfloat (a->progress_pct, ==, b->progress_pct);
  g_assert_cmpfloat (a->fps, ==, b->fps);
  g_assert_cmpfloat (a->speed, ==, b->speed);
  g_assert_cmpint (a->eta_seconds, ==, b->eta_seconds);
  g_assert_cmpstr (a->error_code, ==, b->error_code);
  g_assert_cmpstr (a->error_message, ==, b->error_message);
  g_assert_cmpstr (a->assigned_worker_id, ==, b->assigned_worker_id);
  g_assert_cmpstr (a->retry_of, ==, b->retry_of);
  assert_json_equal (a->media_info, b->media_info);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
  g_assert_cmpint (a->started_at, ==, b->started_at);
  g_assert_cmpint (a->finished_at, ==, b->finished_at);
}

static void
assert_task_equal (const WeTask *a, const WeTask *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->job_id, ==, b->job_id);
  g_assert_cmpint (a->sequence_index, ==, b->sequence_index);
  g_assert_cmpstr (a->kind, ==, b->kind);
  g_assert_cmpfloat (a->start_time_sec, ==, b->start_time_sec);
  g_assert_cmpfloat (a->end_time_sec, ==, b->end_time_sec);
  g_assert_cmpstr (a->assigned_worker_id, ==, b->assigned_worker_id);
  g_assert_cmpint (a->attempt_count, ==, b->attempt_count);
  g_assert_cmpint (a->max_attempts, ==, b->max_attempts);
  g_assert_cmpstr (a->output_key, ==, b->output_key);
  g_assert_cmpint (a->output_size_bytes, ==, b->output_size_bytes);
  g_assert_cmpint (a->status, ==, b->status);
  g_assert_cmpfloat (a->progress_pct, ==, b->progress_pct);
  g_assert_cmpstr (a->error_code, ==, b->error_code);
  g_assert_cmpstr (a->error_message, ==, b->error_message);
  g_assert_cmpint (a->not_before, ==, b->not_before);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
}

static void
create_job (WeStore *store, WeJob *job, GPtrArray *tasks)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_job_create (store, job, tasks, &error));
  g_assert_no_error (error);
}

static void
add_event (WeStore *store, const gchar *job_id, const gchar *type)
{
  g_autoptr(WeJobEvent) event = we_job_event_new ();
  g_autoptr(GError) error = NULL;

  event->job_id = g_strdup (job_id);
  event->type = g_strdup (type);
  g_assert_true (we_store_event_add (store, event, &error));
  g_assert_no_error (error);
}

static void
put_output (WeStore *store, const gchar *job_id, const gchar *name, const gchar *url,
            gint64 size, gint64 created_at)
{
  g_autoptr(WeJobOutput) output = we_job_output_new ();
  g_autoptr(GError) error = NULL;

  output->job_id = g_strdup (job_id);
  output->name = g_strdup (name);
  output->type = g_strdup (g_str_has_suffix (name, ".m3u8") ? "manifest" : "final");
  output->url = g_strdup (url);
  output->content_type = g_strdup ("video/mp4");
  output->size_bytes = size;
  output->profile_id = g_strdup ("720p_h264");
  output->created_at = created_at;
  g_assert_true (we_store_output_put (store, output, &error));
  g_assert_no_error (error);
}

static guint
list_len (GPtrArray *list)
{
  g_assert_nonnull (list);
  return list->len;
}

/* --- jobs ----------------------------------------------------------------------- */

static void
test_job_roundtrip (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 3);
  g_autoptr(WeJob) got = NULL;
  g_autoptr(GPtrArray) got_tasks = NULL;
  g_autoptr(GError) error = NULL;
  WeTask *t2 = g_ptr_array_index (tasks, 2);

  /* a task with every field set */
  t2->assigned_worker_id = g_strdup ("worker-3");
  t2->attempt_count = 2;
  t2->max_attempts = 5;
  t2->output_key = g_strdup ("file:///work/seg-2.mp4");
  t2->output_size_bytes = G_GINT64_CONSTANT (5000000000);
  t2->status = WE_TASK_STATUS_COMPLETED;
  t2->progress_pct = 100;
  t2->error_code = g_strdup ("WE-JOB-008");
  t2->error_message = g_strdup ("first attempt crashed");
  t2->not_before = T0 + 99;
  g_free (t2->kind);
  t2->kind = g_strdup ("stitch");

  create_job (store, job, tasks);

  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (got);
  assert_job_equal (got, job);
  g_assert_cmpint (got->tasks_total, ==, 3);
  g_assert_cmpint (got->tasks_completed, ==, 1);

  got_tasks = we_store_task_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (got_tasks), ==, 3);
  for (guint i = 0; i < 3; i++)
    assert_task_equal (g_ptr_array_index (got_tasks, i), g_ptr_array_index (tasks, i));
}

static void
test_job_defaults (WeStore *store)
{
  g_autoptr(WeJob) job = we_job_new ();
  g_autoptr(WeJob) got = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func ((GDestroyNotify) we_task_unref);
  g_autoptr(GPtrArray) got_tasks = NULL;
  g_autoptr(GError) error = NULL;
  WeTask *task = we_task_new ();
  gint64 before = g_get_real_time ();

  /* the store fills in ids and times the caller left empty */
  job->profile_id = g_strdup ("480p_fast");
  job->source_url = g_strdup ("https://example.com/a.mp4");
  task->sequence_index = 0;
  g_ptr_array_add (tasks, task);
  create_job (store, job, tasks);
  g_assert_nonnull (job->id);
  g_assert_true (g_uuid_string_is_valid (job->id));
  g_assert_cmpint (job->created_at, >=, before);
  g_assert_cmpint (job->updated_at, ==, job->created_at);
  g_assert_nonnull (task->id);
  g_assert_cmpstr (task->job_id, ==, job->id);

  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->eta_seconds, ==, -1);
  g_assert_cmpint (got->started_at, ==, 0);
  g_assert_cmpint (got->finished_at, ==, 0);
  g_assert_null (got->media_info);
  g_assert_null (got->user_id);
  g_assert_null (got->error_code);
  g_assert_cmpstr (got->source_type, ==, "url");
  g_assert_cmpint (got->status, ==, WE_JOB_STATUS_QUEUED);
  g_assert_cmpint (got->created_at, ==, job->created_at);
  /* output_config is never NULL once stored */
  g_assert_nonnull (got->output_config);
  g_assert_cmpuint (json_object_get_size (got->output_config), ==, 0);

  got_tasks = we_store_task_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (got_tasks), ==, 1);
  assert_task_equal (g_ptr_array_index (got_tasks, 0), task);
  g_assert_cmpstr (((WeTask *) g_ptr_array_index (got_tasks, 0))->kind, ==, "transcode");
  g_assert_cmpint (((WeTask *) g_ptr_array_index (got_tasks, 0))->max_attempts, ==, 3);
}

static void
test_job_create_atomic (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 2);
  g_autoptr(WeJob) got = NULL;
  g_autoptr(GError) error = NULL;

  /* two tasks with one id: the second insert fails and takes the job with it */
  g_free (((WeTask *) g_ptr_array_index (tasks, 1))->id);
  ((WeTask *) g_ptr_array_index (tasks, 1))->id =
    g_strdup (((WeTask *) g_ptr_array_index (tasks, 0))->id);
  g_assert_false (we_store_job_create (store, job, tasks, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  g_clear_error (&error);

  got = we_store_job_get (store, job->id, &error);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_assert_null (got);
  g_clear_error (&error);

  /* and the same id twice is refused too */
  {
    g_autoptr(WeJob) a = make_job ("u", "https://x/a", "720p_h264", WE_JOB_STATUS_QUEUED, T0);
    g_autoptr(WeJob) b = make_job ("u", "https://x/b", "720p_h264", WE_JOB_STATUS_QUEUED, T0);

    create_job (store, a, NULL);
    g_free (b->id);
    b->id = g_strdup (a->id);
    g_assert_false (we_store_job_create (store, b, NULL, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  }
}

static void
test_job_update (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 2);
  g_autoptr(WeJob) got = NULL;
  g_autoptr(GError) error = NULL;
  gint64 before;

  create_job (store, job, tasks);

  job->status = WE_JOB_STATUS_COMPLETED;
  job->progress_pct = 100;
  job->fps = 0;
  job->speed = 2.75;
  job->eta_seconds = -1;
  g_clear_pointer (&job->error_code, g_free);
  g_clear_pointer (&job->error_message, g_free);
  g_clear_pointer (&job->assigned_worker_id, g_free);
  g_clear_pointer (&job->media_info, json_object_unref);
  job->media_info = json_parse_object ("{\"duration\":99.5}");
  json_object_set_string_member (job->output_config, "output_url", "s3://other/");
  job->source_type = (g_free (job->source_type), g_strdup ("restream"));
  job->started_at = 0;
  job->finished_at = T0 + 1000;
  before = g_get_real_time ();
  g_assert_true (we_store_job_update (store, job, &error));
  g_assert_no_error (error);
  /* the store stamps the update */
  g_assert_cmpint (job->updated_at, >=, before);

  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  assert_job_equal (got, job);
  g_assert_cmpint (got->created_at, ==, T0);
  g_assert_cmpint (got->tasks_total, ==, 2);
  g_assert_cmpint (got->tasks_completed, ==, 0);
}

static void
assert_page (GPtrArray *page, WeJob **expected, guint n)
{
  g_assert_cmpuint (list_len (page), ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (((WeJob *) g_ptr_array_index (page, i))->id, ==, expected[i]->id);
}

static GPtrArray *
list_jobs (WeStore *store, const WeJobFilter *filter, guint *total)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *jobs;

  *total = G_MAXUINT;
  jobs = we_store_job_list (store, filter, total, &error);
  g_assert_no_error (error);
  g_assert_nonnull (jobs);
  return jobs;
}

static void
test_job_list_filters (WeStore *store)
{
  static const WeJobStatus statuses[] = {
    WE_JOB_STATUS_QUEUED, WE_JOB_STATUS_PROCESSING, WE_JOB_STATUS_COMPLETED,
    WE_JOB_STATUS_FAILED, WE_JOB_STATUS_CANCELLED, WE_JOB_STATUS_STITCHING,
  };
  WeJob *jobs[11];
  WeJob *expect[11];
  guint n = 0;
  guint total;

  /* jobs[i] is created at T0 + i s: newest first is jobs[10] .. jobs[0] */
  for (guint i = 0; i < 10; i++) {
    g_autofree gchar *url = g_strdup_printf ("https://example.com/video-%u.mp4", i);
    jobs[i] = make_job (i % 2 == 0 ? "alice" : "bob", url, i < 5 ? "720p_h264" : "1080p_h264",
                        statuses[i % G_N_ELEMENTS (statuses)], T0 + i * G_USEC_PER_SEC);
    create_job (store, jobs[i], NULL);
  }
  jobs[10] = make_job ("carol", "https://shop.example/100%_off.mp4", "480p_fast",
                       WE_JOB_STATUS_QUEUED, T0 + 10 * G_USEC_PER_SEC);
  create_job (store, jobs[10], NULL);

  /* no filter (and a NULL filter): everything, newest first */
  {
    WeJobFilter filter = { 0 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);
    g_autoptr(GPtrArray) page_null = list_jobs (store, NULL, &total);

    for (guint i = 0; i < 11; i++)
      expect[i] = jobs[10 - i];
    assert_page (page, expect, 11);
    assert_page (page_null, expect, 11);
    g_assert_cmpuint (total, ==, 11);
    /* list rows carry the task counters too */
    g_assert_cmpint (((WeJob *) g_ptr_array_index (page, 0))->tasks_total, ==, 0);
    assert_job_equal (g_ptr_array_index (page, 0), jobs[10]);
  }
  /* oldest first */
  {
    WeJobFilter filter = { .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, jobs, 11);
    g_assert_cmpuint (total, ==, 11);
  }
  /* status mask */
  {
    WeJobFilter filter = { .status_mask = WE_JOB_STATUS_MASK (WE_JOB_STATUS_QUEUED) |
                                          WE_JOB_STATUS_MASK (WE_JOB_STATUS_FAILED),
                           .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    n = 0;
    for (guint i = 0; i < 11; i++) {
      if (jobs[i]->status == WE_JOB_STATUS_QUEUED || jobs[i]->status == WE_JOB_STATUS_FAILED)
        expect[n++] = jobs[i];
    }
    g_assert_cmpuint (n, ==, 5);
    assert_page (page, expect, n);
    g_assert_cmpuint (total, ==, n);
  }
  {
    WeJobFilter filter = { .status_mask = WE_JOB_STATUS_MASK_ACTIVE, .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    n = 0;
    for (guint i = 0; i < 11; i++) {
      if (!we_job_status_is_final (jobs[i]->status))
        expect[n++] = jobs[i];
    }
    assert_page (page, expect, n);
    g_assert_cmpuint (total, ==, n);
  }
  {
    /* a mask naming no status matches nothing */
    WeJobFilter filter = { .status_mask = 1u << 30 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 0);
    g_assert_cmpuint (total, ==, 0);
  }
  /* user */
  {
    WeJobFilter filter = { .user_id = "alice", .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    for (guint i = 0; i < 5; i++)
      expect[i] = jobs[i * 2];
    assert_page (page, expect, 5);
    g_assert_cmpuint (total, ==, 5);
  }
  {
    WeJobFilter filter = { .user_id = "nobody" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 0);
    g_assert_cmpuint (total, ==, 0);
  }
  /* search: source_url, profile_id, id; case-insensitive; wildcards literal */
  {
    WeJobFilter filter = { .search = "video-3" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[3], 1);
    g_assert_cmpuint (total, ==, 1);
  }
  {
    WeJobFilter filter = { .search = "VIDEO-3" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[3], 1);
  }
  {
    WeJobFilter filter = { .search = "1080p", .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[5], 5);
    g_assert_cmpuint (total, ==, 5);
  }
  {
    g_autofree gchar *needle = g_strndup (jobs[7]->id + 9, 14); /* the middle of the uuid */
    WeJobFilter filter = { .search = needle };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[7], 1);
  }
  {
    WeJobFilter filter = { .search = "%" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[10], 1);
  }
  {
    WeJobFilter filter = { .search = "0%_off" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    assert_page (page, &jobs[10], 1);
  }
  {
    /* "_" is a literal: video_ matches nothing though video- is everywhere */
    WeJobFilter filter = { .search = "video_" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 0);
    g_assert_cmpuint (total, ==, 0);
  }
  {
    WeJobFilter filter = { .search = "" };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 11);
  }
  /* everything at once */
  {
    WeJobFilter filter = { .status_mask = WE_JOB_STATUS_MASK_ALL & ~WE_JOB_STATUS_MASK (
                                            WE_JOB_STATUS_COMPLETED),
                           .user_id = "alice", .search = "720p", .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    n = 0;
    for (guint i = 0; i < 5; i += 2) {
      if (jobs[i]->status != WE_JOB_STATUS_COMPLETED)
        expect[n++] = jobs[i];
    }
    assert_page (page, expect, n);
    g_assert_cmpuint (total, ==, n);
  }
  /* pagination: pages tile the full list, the total ignores limit/offset */
  {
    g_autoptr(GPtrArray) seen = g_ptr_array_new ();

    for (guint offset = 0; offset < 12; offset += 3) {
      WeJobFilter filter = { .limit = 3, .offset = offset };
      g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

      g_assert_cmpuint (total, ==, 11);
      g_assert_cmpuint (list_len (page), ==, MIN (3, 11 - offset));
      for (guint i = 0; i < page->len; i++) {
        WeJob *got = g_ptr_array_index (page, i);
        g_assert_cmpstr (got->id, ==, jobs[10 - offset - i]->id);
      }
    }
  }
  {
    WeJobFilter filter = { .limit = 5, .offset = 100 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 0);
    g_assert_cmpuint (total, ==, 11);
  }
  {
    WeJobFilter filter = { .limit = 2, .offset = 1, .user_id = "bob", .oldest_first = TRUE };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    expect[0] = jobs[3];
    expect[1] = jobs[5];
    assert_page (page, expect, 2);
    g_assert_cmpuint (total, ==, 5);
  }

  for (guint i = 0; i < 11; i++)
    we_job_unref (jobs[i]);
}

static void
test_job_priority (WeStore *store)
{
  g_autoptr(WeJob) job = make_job ("u", "https://x/p", "720p_h264", WE_JOB_STATUS_QUEUED, T0);
  g_autoptr(WeJob) got = NULL;
  g_autoptr(WeJob) again = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (job->priority, ==, 50);
  job->priority = 90;
  g_assert_true (we_store_job_create (store, job, NULL, &error));
  g_assert_no_error (error);
  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->priority, ==, 90);
  got->priority = 5;
  g_assert_true (we_store_job_update (store, got, &error));
  again = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again->priority, ==, 5);
}

static void
test_job_list_limits (WeStore *store)
{
  g_autoptr(GPtrArray) tasks = NULL;
  guint total;

  for (guint i = 0; i < 505; i++) {
    g_autoptr(WeJob) job = make_job ("u", "https://example.com/x.mp4", "720p_h264",
                                     WE_JOB_STATUS_QUEUED, T0 + i);
    create_job (store, job, NULL);
  }
  {
    WeJobFilter filter = { 0 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 50);
    g_assert_cmpuint (total, ==, 505);
  }
  {
    WeJobFilter filter = { .limit = 100000 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 500);
    g_assert_cmpuint (total, ==, 505);
  }
  {
    WeJobFilter filter = { .limit = 500, .offset = 500 };
    g_autoptr(GPtrArray) page = list_jobs (store, &filter, &total);

    g_assert_cmpuint (list_len (page), ==, 5);
    g_assert_cmpuint (total, ==, 505);
  }
}

static void
test_job_not_found (WeStore *store)
{
  g_autofree gchar *id = we_uuid_new ();
  g_autoptr(WeJob) job = make_job ("u", "https://x", "720p_h264", WE_JOB_STATUS_QUEUED, T0);
  g_autoptr(WeTask) task = make_task (id, 0);
  g_autoptr(WeJobEvent) event = we_job_event_new ();
  g_autoptr(WeJobOutput) output = we_job_output_new ();
  g_autoptr(GPtrArray) tasks = NULL;
  g_autoptr(GError) error = NULL;
  WeJob *got;

  got = we_store_job_get (store, id, &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  g_free (job->id);
  job->id = g_strdup (id);
  g_assert_false (we_store_job_update (store, job, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  g_assert_false (we_store_job_delete (store, id, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  /* rows hanging off a missing job: the job is what is missing */
  g_assert_false (we_store_task_insert (store, task, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  g_assert_false (we_store_task_update (store, task, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  event->job_id = g_strdup (id);
  event->type = g_strdup ("job.created");
  g_assert_false (we_store_event_add (store, event, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  output->job_id = g_strdup (id);
  output->name = g_strdup ("out.mp4");
  output->type = g_strdup ("final");
  output->url = g_strdup ("file:///out.mp4");
  g_assert_false (we_store_output_put (store, output, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);

  /* listing under a missing job is just empty */
  tasks = we_store_task_list (store, id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (tasks), ==, 0);
}

static void
test_job_delete_cascades (WeStore *store)
{
  g_autoptr(WeJob) a = make_full_job ();
  g_autoptr(WeJob) b = make_full_job ();
  g_autoptr(GPtrArray) ta = make_tasks (a->id, 3);
  g_autoptr(GPtrArray) tb = make_tasks (b->id, 2);
  g_autoptr(GError) error = NULL;
  WeJob *got;

  create_job (store, a, ta);
  create_job (store, b, tb);
  for (guint i = 0; i < 3; i++) {
    add_event (store, a->id, "task.completed");
    add_event (store, b->id, "task.completed");
  }
  put_output (store, a->id, "a.mp4", "file:///a.mp4", 1, T0);
  put_output (store, b->id, "b.mp4", "file:///b.mp4", 1, T0);

  g_assert_true (we_store_job_delete (store, a->id, &error));
  g_assert_no_error (error);

  got = we_store_job_get (store, a->id, &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);
  {
    g_autoptr(GPtrArray) tasks = we_store_task_list (store, a->id, &error);
    g_autoptr(GPtrArray) outputs = we_store_output_list (store, a->id, &error);
    g_autoptr(GPtrArray) events = we_store_event_list (store, a->id, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (tasks), ==, 0);
    g_assert_cmpuint (list_len (outputs), ==, 0);
    g_assert_cmpuint (list_len (events), ==, 0);
  }
  /* the other job keeps everything */
  {
    g_autoptr(GPtrArray) tasks = we_store_task_list (store, b->id, &error);
    g_autoptr(GPtrArray) outputs = we_store_output_list (store, b->id, &error);
    g_autoptr(GPtrArray) events = we_store_event_list (store, b->id, &error);
    g_autoptr(WeJob) still = we_store_job_get (store, b->id, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (tasks), ==, 2);
    g_assert_cmpuint (list_len (outputs), ==, 1);
    g_assert_cmpuint (list_len (events), ==, 3);
    g_assert_cmpint (still->tasks_total, ==, 2);
  }
  g_assert_false (we_store_job_delete (store, a->id, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
}

/* --- tasks, outputs, events ------------------------------------------------------- */

static void
test_task_order_and_update (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) got = NULL;
  g_autoptr(WeJob) got_job = NULL;
  g_autoptr(GError) error = NULL;
  WeTask *tasks[3];
  const gint order[3] = { 2, 0, 1 };

  create_job (store, job, NULL);
  for (guint i = 0; i < 3; i++) {
    tasks[order[i]] = make_task (job->id, order[i]);
    g_assert_true (we_store_task_insert (store, tasks[order[i]], &error));
    g_assert_no_error (error);
  }
  got = we_store_task_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (got), ==, 3);
  for (guint i = 0; i < 3; i++)
    assert_task_equal (g_ptr_array_index (got, i), tasks[i]);
  g_clear_pointer (&got, g_ptr_array_unref);

  tasks[1]->status = WE_TASK_STATUS_RUNNING;
  tasks[1]->assigned_worker_id = g_strdup ("worker-1");
  tasks[1]->attempt_count = 1;
  tasks[1]->progress_pct = 55.5;
  tasks[1]->output_key = g_strdup ("file:///work/1.mp4");
  tasks[1]->output_size_bytes = 123456789;
  tasks[1]->error_code = g_strdup ("WE-WRK-004");
  tasks[1]->error_message = g_strdup ("lost contact");
  tasks[1]->not_before = T0 + 5 * G_USEC_PER_SEC;
  tasks[1]->max_attempts = 4;
  tasks[1]->start_time_sec = 9.5;
  tasks[1]->end_time_sec = 21.25;
  g_assert_true (we_store_task_update (store, tasks[1], &error));
  g_assert_no_error (error);
  g_assert_cmpint (tasks[1]->updated_at, >, T0 + 1);

  tasks[0]->status = WE_TASK_STATUS_COMPLETED;
  tasks[2]->status = WE_TASK_STATUS_COMPLETED;
  g_assert_true (we_store_task_update (store, tasks[0], &error));
  g_assert_true (we_store_task_update (store, tasks[2], &error));
  g_assert_no_error (error);

  got = we_store_task_list (store, job->id, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    assert_task_equal (g_ptr_array_index (got, i), tasks[i]);

  got_job = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got_job->tasks_total, ==, 3);
  g_assert_cmpint (got_job->tasks_completed, ==, 2);

  for (guint i = 0; i < 3; i++)
    we_task_unref (tasks[i]);
}

static void
test_outputs (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) got = NULL;
  g_autoptr(GError) error = NULL;
  WeJobOutput *o;

  create_job (store, job, NULL);
  put_output (store, job->id, "final.mp4", "file:///v1/final.mp4", 100, T0);
  put_output (store, job->id, "master.m3u8", "file:///v1/master.m3u8", 2, T0 + 1);
  /* same name again: replaces, does not add */
  put_output (store, job->id, "final.mp4", "file:///v2/final.mp4", G_GINT64_CONSTANT (1) << 40,
              T0 + 2);

  got = we_store_output_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (got), ==, 2);
  o = g_ptr_array_index (got, 0);
  g_assert_cmpstr (o->job_id, ==, job->id);
  g_assert_cmpstr (o->name, ==, "master.m3u8");
  g_assert_cmpstr (o->type, ==, "manifest");
  g_assert_cmpstr (o->url, ==, "file:///v1/master.m3u8");
  g_assert_cmpint (o->size_bytes, ==, 2);
  g_assert_cmpint (o->created_at, ==, T0 + 1);
  o = g_ptr_array_index (got, 1);
  g_assert_cmpstr (o->name, ==, "final.mp4");
  g_assert_cmpstr (o->type, ==, "final");
  g_assert_cmpstr (o->url, ==, "file:///v2/final.mp4");
  g_assert_cmpstr (o->content_type, ==, "video/mp4");
  g_assert_cmpstr (o->profile_id, ==, "720p_h264");
  g_assert_cmpint (o->size_bytes, ==, G_GINT64_CONSTANT (1) << 40);
  g_assert_cmpint (o->created_at, ==, T0 + 2);
}

static void
test_events (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(WeJob) other = make_full_job ();
  g_autoptr(GPtrArray) got = NULL;
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func ((GDestroyNotify) we_job_event_free);
  g_autoptr(GError) error = NULL;
  gint64 last_id = 0;

  create_job (store, job, NULL);
  create_job (store, other, NULL);
  for (guint i = 0; i < 6; i++) {
    WeJobEvent *event = we_job_event_new ();

    /* interleave another job's events: ids are global, lists per job */
    add_event (store, other->id, "task.progress");
    event->job_id = g_strdup (job->id);
    event->type = g_strdup_printf ("task.event%u", i);
    if (i != 3) {
      event->message = g_strdup_printf ("message %u", i);
      event->payload = json_parse_object ("{\"task\":1,\"progress\":[1,2.5],\"ok\":true}");
      json_object_set_int_member (event->payload, "i", i);
    }
    event->created_at = i == 4 ? 0 : T0 + i;
    g_assert_true (we_store_event_add (store, event, &error));
    g_assert_no_error (error);
    g_assert_cmpint (event->id, >, last_id);
    last_id = event->id;
    g_ptr_array_add (sent, event);
  }
  got = we_store_event_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (got), ==, 6);
  for (guint i = 0; i < 6; i++) {
    WeJobEvent *a = g_ptr_array_index (got, i);
    WeJobEvent *b = g_ptr_array_index (sent, i);

    g_assert_cmpint (a->id, ==, b->id);
    g_assert_cmpstr (a->job_id, ==, b->job_id);
    g_assert_cmpstr (a->type, ==, b->type);
    g_assert_cmpstr (a->message, ==, b->message);
    assert_json_equal (a->payload, b->payload);
    g_assert_cmpint (a->created_at, ==, b->created_at);
    g_assert_cmpint (a->created_at, >, 0);
  }
}

/* --- profiles, workers, plugin configs ---------------------------------------------- */

static void
assert_profile_equal (const WeProfile *a, const WeProfile *b)
{
  g_autoptr(JsonObject) ja = we_profile_to_json (a);
  g_autoptr(JsonObject) jb = we_profile_to_json (b);

  assert_json_equal (ja, jb);
  g_assert_cmpint (a->builtin, ==, b->builtin);
}

static gint
profile_id_cmp (gconstpointer a, gconstpointer b)
{
  const WeProfile *pa = *(WeProfile * const *) a;
  const WeProfile *pb = *(WeProfile * const *) b;

  return g_strcmp0 (pa->id, pb->id);
}

static void
test_profiles (WeStore *store)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();
  g_autoptr(WeProfile) custom = we_profile_new ("00_custom");
  g_autoptr(WeProfile) bad = we_profile_new ("bad");
  g_autoptr(GPtrArray) sorted = g_ptr_array_new ();
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  WeProfile *got;

  list = we_store_profile_list (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  for (guint i = 0; i < builtins->len; i++) {
    g_assert_true (we_store_profile_put (store, g_ptr_array_index (builtins, i), &error));
    g_assert_no_error (error);
    g_ptr_array_add (sorted, g_ptr_array_index (builtins, i));
  }
  custom->width = 640;
  custom->height = 360;
  custom->pad = TRUE;
  custom->segment_target_s = 12.5;
  g_free (custom->description);
  custom->description = g_strdup ("a user's profile, sorted after the builtins");
  g_assert_true (we_store_profile_put (store, custom, &error));
  g_assert_no_error (error);

  /* builtins first (by id), then the rest by id, though "00_custom" sorts first */
  g_ptr_array_sort (sorted, profile_id_cmp);
  g_ptr_array_add (sorted, custom);
  list = we_store_profile_list (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, sorted->len);
  for (guint i = 0; i < list->len; i++)
    assert_profile_equal (g_ptr_array_index (list, i), g_ptr_array_index (sorted, i));
  g_clear_pointer (&list, g_ptr_array_unref);

  got = we_store_profile_get (store, "00_custom", &error);
  g_assert_no_error (error);
  assert_profile_equal (got, custom);
  g_assert_false (got->builtin);
  g_clear_pointer (&got, we_profile_unref);

  got = we_store_profile_get (store, "1080p_h264", &error);
  g_assert_no_error (error);
  g_assert_true (got->builtin);
  g_clear_pointer (&got, we_profile_unref);

  /* put replaces */
  custom->width = 1024;
  custom->height = 576;
  g_assert_true (we_store_profile_put (store, custom, &error));
  g_assert_no_error (error);
  got = we_store_profile_get (store, "00_custom", &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->width, ==, 1024);
  g_clear_pointer (&got, we_profile_unref);
  list = we_store_profile_list (store, &error);
  g_assert_cmpuint (list_len (list), ==, builtins->len + 1);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* an invalid profile is refused and not stored */
  g_free (bad->container);
  bad->container = g_strdup ("avi");
  g_assert_false (we_store_profile_put (store, bad, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);

  g_assert_true (we_store_profile_delete (store, "00_custom", &error));
  g_assert_no_error (error);
  got = we_store_profile_get (store, "00_custom", &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  g_assert_false (we_store_profile_delete (store, "00_custom", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  got = we_store_profile_get (store, "bad", &error);
  g_assert_null (got);
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
}

static WeWorkerRecord *
make_worker (const gchar *id, gint port)
{
  WeWorkerRecord *w = we_worker_record_new ();

  w->id = g_strdup (id);
  w->hostname = g_strdup_printf ("%s.local", id);
  w->ip_address = g_strdup ("192.0.2.10");
  w->port = port;
  w->capabilities = json_parse_object (
    "{\"encoders\":[\"x264enc\",\"vp9enc\"],\"hardware\":{\"nvenc\":false},\"slots\":4}");
  w->is_healthy = TRUE;
  w->last_heartbeat = T0 + port;
  w->version = g_strdup ("0.1.0");
  w->created_at = T0;
  return w;
}

static void
assert_worker_equal (const WeWorkerRecord *a, const WeWorkerRecord *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->hostname, ==, b->hostname);
  g_assert_cmpstr (a->ip_address, ==, b->ip_address);
  g_assert_cmpint (a->port, ==, b->port);
  assert_json_equal (a->capabilities, b->capabilities);
  g_assert_cmpint (a->is_healthy, ==, b->is_healthy);
  g_assert_cmpint (a->is_draining, ==, b->is_draining);
  g_assert_cmpint (a->last_heartbeat, ==, b->last_heartbeat);
  g_assert_cmpstr (a->version, ==, b->version);
  g_assert_cmpint (a->created_at, ==, b->created_at);
}

static void
test_workers (WeStore *store)
{
  g_autoptr(WeWorkerRecord) w1 = make_worker ("worker-1", 7001);
  g_autoptr(WeWorkerRecord) w2 = make_worker ("worker-2", 7002);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_worker_put (store, w2, &error));
  g_assert_true (we_store_worker_put (store, w1, &error));
  g_assert_no_error (error);
  list = we_store_worker_list (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 2);
  assert_worker_equal (g_ptr_array_index (list, 0), w1);
  assert_worker_equal (g_ptr_array_index (list, 1), w2);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* a heartbeat re-puts the record; the first registration time stays */
  w1->is_draining = TRUE;
  w1->is_healthy = FALSE;
  w1->last_heartbeat = T0 + 99999;
  w1->created_at = T0 + 5;
  g_clear_pointer (&w1->capabilities, json_object_unref);
  g_assert_true (we_store_worker_put (store, w1, &error));
  g_assert_no_error (error);
  w1->created_at = T0;
  list = we_store_worker_list (store, &error);
  g_assert_cmpuint (list_len (list), ==, 2);
  assert_worker_equal (g_ptr_array_index (list, 0), w1);
  g_clear_pointer (&list, g_ptr_array_unref);

  g_assert_true (we_store_worker_delete (store, "worker-1", &error));
  g_assert_no_error (error);
  list = we_store_worker_list (store, &error);
  g_assert_cmpuint (list_len (list), ==, 1);
  assert_worker_equal (g_ptr_array_index (list, 0), w2);
  g_assert_false (we_store_worker_delete (store, "worker-1", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_WRK_NOT_FOUND);

  /* the API representation */
  {
    g_autoptr(JsonObject) json = we_worker_record_to_json (w2);
    g_assert_cmpstr (json_object_get_string_member (json, "id"), ==, "worker-2");
    g_assert_cmpint (json_object_get_int_member (json, "port"), ==, 7002);
    g_assert_true (json_object_get_boolean_member (json, "is_healthy"));
    g_assert_nonnull (json_object_get_object_member (json, "capabilities"));
  }
}

static WePluginConfig *
make_plugin_config (const gchar *id, const gchar *type, gint priority, const gchar *json)
{
  WePluginConfig *c = we_plugin_config_new ();

  c->id = g_strdup (id);
  c->plugin_type = g_strdup (type);
  c->config = json_parse_object (json);
  c->priority = priority;
  c->created_at = T0;
  c->updated_at = T0 + priority;
  return c;
}

static void
assert_plugin_config_equal (const WePluginConfig *a, const WePluginConfig *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->plugin_type, ==, b->plugin_type);
  assert_json_equal (a->config, b->config);
  g_assert_cmpint (a->is_enabled, ==, b->is_enabled);
  g_assert_cmpint (a->priority, ==, b->priority);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
}

static void
test_plugin_configs (WeStore *store)
{
  g_autoptr(WePluginConfig) fs =
    make_plugin_config ("storage-fs", "storage", 10, "{\"root\":\"/srv/media\"}");
  g_autoptr(WePluginConfig) s3 =
    make_plugin_config ("storage-s3", "storage", 20,
                        "{\"bucket\":\"b\",\"endpoint\":\"http://127.0.0.1:4568\"}");
  g_autoptr(WePluginConfig) auth = make_plugin_config ("auth-basic", "auth", 0, "{}");
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_plugin_config_put (store, fs, &error));
  g_assert_true (we_store_plugin_config_put (store, s3, &error));
  g_assert_true (we_store_plugin_config_put (store, auth, &error));
  g_assert_no_error (error);

  /* by pillar, then by priority, highest first */
  list = we_store_plugin_config_list (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 3);
  assert_plugin_config_equal (g_ptr_array_index (list, 0), auth);
  assert_plugin_config_equal (g_ptr_array_index (list, 1), s3);
  assert_plugin_config_equal (g_ptr_array_index (list, 2), fs);
  g_clear_pointer (&list, g_ptr_array_unref);

  fs->is_enabled = FALSE;
  fs->priority = 30;
  fs->updated_at = T0 + 1000;
  json_object_set_string_member (fs->config, "root", "/mnt/other");
  g_assert_true (we_store_plugin_config_put (store, fs, &error));
  g_assert_no_error (error);
  list = we_store_plugin_config_list (store, &error);
  g_assert_cmpuint (list_len (list), ==, 3);
  assert_plugin_config_equal (g_ptr_array_index (list, 1), fs);
  assert_plugin_config_equal (g_ptr_array_index (list, 2), s3);
}

static void
test_schema_version (WeStore *store)
{
  g_assert_cmpint (we_store_schema_version (store), >, 0);
}

/* Restream ownership (migration 0012): one conditional UPDATE decides who
 * runs a restream, and only the owner's reports land. */
static gboolean
restream_claim (WeStore *store, const gchar *kernel, gint64 now, gboolean active_only,
                const gchar *fire_key, gint64 run_until)
{
  WeRestreamClaim claim = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean claimed = FALSE, ok;

  claim.kernel_id = kernel;
  claim.now = now;
  claim.lease_until = now + 8 * G_USEC_PER_SEC;
  claim.active_only = active_only;
  claim.fire_key = fire_key;
  claim.run_until = run_until;
  ok = we_store_restream_claim (store, "rs-claim", &claim, &claimed, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  return claimed;
}

static void
test_restream_claim (WeStore *store)
{
  g_autoptr(WeRestreamRecord) rec = we_restream_record_new ();
  g_autoptr(WeRestreamRecord) got = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time ();

  rec->id = g_strdup ("rs-claim");
  rec->user_id = g_strdup ("u");
  rec->doc = g_strdup ("{}");
  g_assert_true (we_store_restream_put (store, rec, &error));
  g_assert_no_error (error);

  /* resuming takes only what should run; a start takes a stopped one */
  g_assert_false (restream_claim (store, "k1", now, TRUE, NULL, 0));
  g_assert_true (restream_claim (store, "k1", now, FALSE, NULL, 0));
  got = we_store_restream_get (store, "rs-claim", &error);
  g_assert_cmpstr (got->status, ==, "starting");
  g_assert_cmpstr (got->owner_kernel, ==, "k1");
  g_assert_cmpint (got->lease_until, ==, now + 8 * G_USEC_PER_SEC);
  g_clear_pointer (&got, we_restream_record_free);
  /* a live lease keeps others out, not its holder */
  g_assert_false (restream_claim (store, "k2", now + G_USEC_PER_SEC, TRUE, NULL, 0));
  g_assert_true (restream_claim (store, "k1", now + G_USEC_PER_SEC, TRUE, NULL, 0));

  /* k1 stops renewing: k2 adopts once the lease ran out */
  g_assert_true (restream_claim (store, "k2", now + 10 * G_USEC_PER_SEC, TRUE, NULL, 0));
  ids = we_store_restream_renew (store, "k1", now + 20 * G_USEC_PER_SEC, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 0);
  g_clear_pointer (&ids, g_ptr_array_unref);
  ids = we_store_restream_renew (store, "k2", now + 20 * G_USEC_PER_SEC, &error);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpstr (ids->pdata[0], ==, "rs-claim");

  /* the old owner's late report does not land; the owner's does */
  g_assert_true (we_store_restream_report (store, "rs-claim", "k1", "error", "{\"x\":1}", FALSE,
                                           &error));
  g_assert_true (we_store_restream_report (store, "rs-claim", "k2", "streaming", NULL, FALSE,
                                           &error));
  g_assert_no_error (error);
  got = we_store_restream_get (store, "rs-claim", &error);
  g_assert_cmpstr (got->status, ==, "streaming");
  g_assert_null (got->stats);
  g_assert_cmpint (got->lease_until, ==, now + 20 * G_USEC_PER_SEC);
  g_clear_pointer (&got, we_restream_record_free);

  /* a stop through anyone releases it */
  g_assert_true (we_store_restream_report (store, "rs-claim", NULL, "stopped", "{}", TRUE,
                                           &error));
  got = we_store_restream_get (store, "rs-claim", &error);
  g_assert_cmpstr (got->status, ==, "stopped");
  g_assert_null (got->owner_kernel);
  g_assert_cmpint (got->lease_until, ==, 0);
  g_assert_cmpstr (got->stats, ==, "{}");
  g_clear_pointer (&got, we_restream_record_free);

  /* a schedule firing starts one run per key */
  g_assert_true (restream_claim (store, "k1", now, FALSE, "s:at:1", 12345));
  got = we_store_restream_get (store, "rs-claim", &error);
  g_assert_cmpstr (got->fired, ==, "s:at:1");
  g_assert_cmpint (got->run_until, ==, 12345);
  g_clear_pointer (&got, we_restream_record_free);
  g_assert_true (we_store_restream_report (store, "rs-claim", "k1", "stopped", NULL, TRUE,
                                           &error));
  g_assert_false (restream_claim (store, "k2", now, FALSE, "s:at:1", 12345));
  g_assert_true (restream_claim (store, "k2", now, FALSE, "s:cron:2", 0));
  got = we_store_restream_get (store, "rs-claim", &error);
  g_assert_cmpstr (got->owner_kernel, ==, "k2");
  g_assert_cmpstr (got->fired, ==, "s:cron:2");
  g_assert_cmpint (got->run_until, ==, 0);
  g_assert_true (we_store_restream_delete (store, "rs-claim", &error));
  g_assert_no_error (error);
}

/* --- asynchronous wrappers ------------------------------------------------------------ */

typedef struct {
  GAsyncResult *result;
  GThread      *thread;
} Waiter;

static void
waiter_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *w = user_data;

  g_assert_true (w->thread == g_thread_self ());
  g_assert_null (w->result);
  w->result = g_object_ref (result);
}

/* Runs the thread-default context until the call completes. */
static GAsyncResult *
waiter_wait (Waiter *w)
{
  /* never synchronously from inside the _async call */
  while (w->result == NULL)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
  return w->result;
}

static void
waiter_clear (Waiter *w)
{
  g_clear_object (&w->result);
  w->thread = g_thread_self ();
}

static void
test_async_roundtrip (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 2);
  g_autoptr(GError) error = NULL;
  Waiter w = { NULL, g_thread_self () };

  we_store_job_create_async (store, job, tasks, NULL, waiter_cb, &w);
  g_assert_null (w.result);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);

  we_store_job_get_async (store, job->id, NULL, waiter_cb, &w);
  {
    g_autoptr(WeJob) got = we_store_finish_job (store, waiter_wait (&w), &error);
    g_assert_no_error (error);
    assert_job_equal (got, job);
    g_assert_cmpint (got->tasks_total, ==, 2);
  }
  waiter_clear (&w);

  job->status = WE_JOB_STATUS_STITCHING;
  we_store_job_update_async (store, job, NULL, waiter_cb, &w);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);

  {
    WeJobFilter filter = { .status_mask = WE_JOB_STATUS_MASK (WE_JOB_STATUS_STITCHING),
                           .user_id = job->user_id, .search = "uploads" };
    g_autoptr(GPtrArray) list = NULL;
    guint total = 0;

    we_store_job_list_async (store, &filter, NULL, waiter_cb, &w);
    list = we_store_finish_list (store, waiter_wait (&w), &total, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list_len (list), ==, 1);
    g_assert_cmpuint (total, ==, 1);
    g_assert_cmpint (((WeJob *) g_ptr_array_index (list, 0))->status, ==,
                     WE_JOB_STATUS_STITCHING);
    waiter_clear (&w);
  }

  {
    g_autoptr(WeTask) task = make_task (job->id, 2);
    g_autoptr(GPtrArray) list = NULL;

    we_store_task_insert_async (store, task, NULL, waiter_cb, &w);
    g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_no_error (error);
    waiter_clear (&w);

    task->status = WE_TASK_STATUS_COMPLETED;
    we_store_task_update_async (store, task, NULL, waiter_cb, &w);
    g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_no_error (error);
    waiter_clear (&w);

    we_store_task_list_async (store, job->id, NULL, waiter_cb, &w);
    list = we_store_finish_list (store, waiter_wait (&w), NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list_len (list), ==, 3);
    g_assert_cmpint (((WeTask *) g_ptr_array_index (list, 2))->status, ==,
                     WE_TASK_STATUS_COMPLETED);
    waiter_clear (&w);
  }

  {
    g_autoptr(WeJobOutput) output = we_job_output_new ();
    g_autoptr(GPtrArray) list = NULL;

    output->job_id = g_strdup (job->id);
    output->name = g_strdup ("final.mp4");
    output->type = g_strdup ("final");
    output->url = g_strdup ("file:///final.mp4");
    we_store_output_put_async (store, output, NULL, waiter_cb, &w);
    g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_no_error (error);
    waiter_clear (&w);

    we_store_output_list_async (store, job->id, NULL, waiter_cb, &w);
    list = we_store_finish_list (store, waiter_wait (&w), NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list_len (list), ==, 1);
    waiter_clear (&w);
  }

  {
    g_autoptr(WeJobEvent) event = we_job_event_new ();
    g_autoptr(GPtrArray) list = NULL;

    event->job_id = g_strdup (job->id);
    event->type = g_strdup ("job.created");
    event->payload = json_parse_object ("{\"a\":1}");
    we_store_event_add_async (store, event, NULL, waiter_cb, &w);
    g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_no_error (error);
    waiter_clear (&w);

    we_store_event_list_async (store, job->id, NULL, waiter_cb, &w);
    list = we_store_finish_list (store, waiter_wait (&w), NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list_len (list), ==, 1);
    assert_json_equal (((WeJobEvent *) g_ptr_array_index (list, 0))->payload, event->payload);
    waiter_clear (&w);
  }

  {
    g_autoptr(GPtrArray) builtins = we_profile_builtins ();
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(WeProfile) got = NULL;

    g_assert_true (we_store_profile_put (store, g_ptr_array_index (builtins, 0), &error));
    we_store_profile_list_async (store, NULL, waiter_cb, &w);
    list = we_store_finish_list (store, waiter_wait (&w), NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list_len (list), ==, 1);
    waiter_clear (&w);

    we_store_profile_get_async (store, "1080p_h264", NULL, waiter_cb, &w);
    got = we_store_finish_profile (store, waiter_wait (&w), &error);
    g_assert_no_error (error);
    assert_profile_equal (got, g_ptr_array_index (builtins, 0));
    waiter_clear (&w);

    we_store_profile_get_async (store, "nope", NULL, waiter_cb, &w);
    g_assert_null (we_store_finish_profile (store, waiter_wait (&w), &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
    g_clear_error (&error);
    waiter_clear (&w);
  }

  {
    g_autoptr(WeWorkerRecord) worker = make_worker ("worker-async", 1);
    g_autoptr(GPtrArray) list = NULL;

    we_store_worker_put_async (store, worker, NULL, waiter_cb, &w);
    g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_no_error (error);
    waiter_clear (&w);
    list = we_store_worker_list (store, &error);
    g_assert_cmpuint (list_len (list), ==, 1);
    assert_worker_equal (g_ptr_array_index (list, 0), worker);
  }

  we_store_job_delete_async (store, job->id, NULL, waiter_cb, &w);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);

  /* errors travel too */
  we_store_job_get_async (store, job->id, NULL, waiter_cb, &w);
  g_assert_null (we_store_finish_job (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  g_clear_error (&error);
  waiter_clear (&w);

  we_store_job_delete_async (store, job->id, NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  waiter_clear (&w);
}

typedef struct {
  guint  done;
  guint  failed;
} Counter;

static void
ordered_update_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Counter *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!we_store_finish_boolean (WE_STORE (source), result, &error))
    c->failed++;
  c->done++;
}

/* The API's profile writes: insert-only create, replace and delete that
 * refuse built-ins, duplicate with a free id. */
static void
test_async_profile_writes (WeStore *store)
{
  g_autoptr(GPtrArray) builtins = we_profile_builtins ();
  WeProfile *builtin = g_ptr_array_index (builtins, 1); /* 720p_h264 */
  g_autoptr(WeProfile) mine = we_profile_new ("mine");
  g_autoptr(WeProfile) got = NULL;
  g_autoptr(GError) error = NULL;
  Waiter w = { NULL, g_thread_self () };

  g_assert_true (we_store_profile_put (store, builtin, &error));
  g_assert_no_error (error);

  mine->hls.enabled = TRUE;
  we_store_profile_create_async (store, mine, NULL, waiter_cb, &w);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);
  got = we_store_profile_get (store, "mine", &error);
  g_assert_no_error (error);
  assert_profile_equal (got, mine);
  g_clear_pointer (&got, we_profile_unref);

  /* taken ids, built-in or not */
  we_store_profile_create_async (store, mine, NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT);
  g_clear_error (&error);
  waiter_clear (&w);
  we_store_profile_create_async (store, builtin, NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT);
  g_clear_error (&error);
  waiter_clear (&w);

  mine->width = 640;
  mine->height = 360;
  we_store_profile_replace_async (store, mine, NULL, waiter_cb, &w);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);
  got = we_store_profile_get (store, "mine", &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->width, ==, 640);
  g_assert_true (got->hls.enabled);
  g_clear_pointer (&got, we_profile_unref);

  /* built-ins are read-only; a missing profile cannot be replaced */
  we_store_profile_replace_async (store, builtin, NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN);
  g_clear_error (&error);
  waiter_clear (&w);
  we_store_profile_delete_async (store, builtin->id, NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_AUTH_FORBIDDEN);
  g_clear_error (&error);
  waiter_clear (&w);
  {
    g_autoptr(WeProfile) ghost = we_profile_new ("ghost");

    we_store_profile_replace_async (store, ghost, NULL, waiter_cb, &w);
    g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
    g_clear_error (&error);
    waiter_clear (&w);
    g_assert_null (we_store_profile_get (store, "ghost", &error));
    g_clear_error (&error);
  }

  /* duplicates: default ids count up, a given id must be free */
  we_store_profile_duplicate_async (store, builtin->id, NULL, NULL, NULL, waiter_cb, &w);
  got = we_store_finish_profile (store, waiter_wait (&w), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, "720p_h264_copy");
  g_assert_cmpstr (got->name, ==, "720p_h264 (copy)");
  g_assert_false (got->builtin);
  g_assert_cmpint (got->video_bitrate_kbps, ==, builtin->video_bitrate_kbps);
  g_clear_pointer (&got, we_profile_unref);
  waiter_clear (&w);
  we_store_profile_duplicate_async (store, builtin->id, NULL, NULL, NULL, waiter_cb, &w);
  got = we_store_finish_profile (store, waiter_wait (&w), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->id, ==, "720p_h264_copy2");
  g_clear_pointer (&got, we_profile_unref);
  waiter_clear (&w);
  we_store_profile_duplicate_async (store, "mine", "ours", "Ours", NULL, waiter_cb, &w);
  got = we_store_finish_profile (store, waiter_wait (&w), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->name, ==, "Ours");
  g_assert_cmpint (got->width, ==, 640);
  g_clear_pointer (&got, we_profile_unref);
  waiter_clear (&w);
  got = we_store_profile_get (store, "ours", &error);
  g_assert_no_error (error);
  g_assert_false (got->builtin);
  g_clear_pointer (&got, we_profile_unref);
  we_store_profile_duplicate_async (store, "mine", "ours", NULL, NULL, waiter_cb, &w);
  g_assert_null (we_store_finish_profile (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT);
  g_clear_error (&error);
  waiter_clear (&w);
  we_store_profile_duplicate_async (store, "nope", NULL, NULL, NULL, waiter_cb, &w);
  g_assert_null (we_store_finish_profile (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  waiter_clear (&w);

  we_store_profile_delete_async (store, "mine", NULL, waiter_cb, &w);
  g_assert_true (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_no_error (error);
  waiter_clear (&w);
  g_assert_null (we_store_profile_get (store, "mine", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  we_store_profile_delete_async (store, "mine", NULL, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_INVALID_PROFILE);
  g_clear_error (&error);
  waiter_clear (&w);
}

static void
test_async_ordering (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 1);
  g_autoptr(GError) error = NULL;
  WeTask *task = g_ptr_array_index (tasks, 0);
  Counter counter = { 0 };
  Waiter w = { NULL, g_thread_self () };
  const guint n = 200;

  create_job (store, job, tasks);

  /* progress writes queue up behind each other; the last submitted wins */
  task->status = WE_TASK_STATUS_RUNNING;
  for (guint i = 1; i <= n; i++) {
    task->progress_pct = i * 0.5;
    task->attempt_count = (gint) i;
    we_store_task_update_async (store, task, NULL, ordered_update_cb, &counter);
  }
  job->progress_pct = 99.5;
  we_store_job_update_async (store, job, NULL, ordered_update_cb, &counter);
  we_store_task_list_async (store, job->id, NULL, waiter_cb, &w);
  {
    g_autoptr(GPtrArray) list = we_store_finish_list (store, waiter_wait (&w), NULL, &error);
    WeTask *got;

    g_assert_no_error (error);
    /* completions arrive in submission order, so all earlier ones are in */
    g_assert_cmpuint (counter.done, ==, n + 1);
    g_assert_cmpuint (counter.failed, ==, 0);
    g_assert_cmpuint (list_len (list), ==, 1);
    got = g_ptr_array_index (list, 0);
    g_assert_cmpfloat (got->progress_pct, ==, n * 0.5);
    g_assert_cmpint (got->attempt_count, ==, (gint) n);
    g_assert_cmpint (got->status, ==, WE_TASK_STATUS_RUNNING);
  }
  waiter_clear (&w);

  we_store_job_get_async (store, job->id, NULL, waiter_cb, &w);
  {
    g_autoptr(WeJob) got = we_store_finish_job (store, waiter_wait (&w), &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (got->progress_pct, ==, 99.5);
  }
  waiter_clear (&w);
}

typedef struct {
  WeStore     *store;
  const gchar *job_id;
  const gchar *name;
  guint        n;
  guint        done;
  GThread     *thread;
} ThreadClient;

static void
thread_event_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ThreadClient *client = user_data;
  g_autoptr(GError) error = NULL;

  /* completion comes back to the submitting thread's own context */
  g_assert_true (client->thread == g_thread_self ());
  g_assert_true (we_store_finish_boolean (WE_STORE (source), result, &error));
  g_assert_no_error (error);
  client->done++;
}

static gpointer
thread_client_run (gpointer data)
{
  ThreadClient *client = data;
  g_autoptr(GMainContext) context = g_main_context_new ();

  client->thread = g_thread_self ();
  g_main_context_push_thread_default (context);
  for (guint i = 0; i < client->n; i++) {
    g_autoptr(WeJobEvent) event = we_job_event_new ();

    event->job_id = g_strdup (client->job_id);
    event->type = g_strdup ("task.progress");
    event->message = g_strdup_printf ("%s-%03u", client->name, i);
    event->payload = json_parse_object ("{\"from\":\"thread\"}");
    we_store_event_add_async (client->store, event, NULL, thread_event_cb, client);
  }
  while (client->done < client->n)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
test_async_threads (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GError) error = NULL;
  ThreadClient clients[2] = {
    { store, NULL, "a", 100, 0, NULL },
    { store, NULL, "b", 100, 0, NULL },
  };
  GThread *threads[2];
  guint next[2] = { 0, 0 };

  create_job (store, job, NULL);
  for (guint i = 0; i < 2; i++) {
    clients[i].job_id = job->id;
    threads[i] = g_thread_new ("store-client", thread_client_run, &clients[i]);
  }
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);

  events = we_store_event_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (events), ==, 200);
  /* each thread's events are stored in the order it submitted them */
  for (guint i = 0; i < events->len; i++) {
    WeJobEvent *event = g_ptr_array_index (events, i);
    guint who = event->message[0] == 'a' ? 0 : 1;
    g_autofree gchar *expect = g_strdup_printf ("%s-%03u", clients[who].name, next[who]++);

    g_assert_cmpstr (event->message, ==, expect);
  }
  g_assert_cmpuint (next[0], ==, 100);
  g_assert_cmpuint (next[1], ==, 100);
}

static void
test_async_flush_and_cancel (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Waiter w = { NULL, g_thread_self () };

  /* flush before anything was submitted returns at once */
  we_store_flush (store);

  create_job (store, job, NULL);
  for (guint i = 0; i < 50; i++) {
    g_autoptr(WeJobEvent) event = we_job_event_new ();

    event->job_id = g_strdup (job->id);
    event->type = g_strdup ("task.progress");
    /* fire and forget */
    we_store_event_add_async (store, event, NULL, NULL, NULL);
  }
  we_store_flush (store);
  events = we_store_event_list (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (events), ==, 50);

  /* a call cancelled before it ran reports so and writes nothing */
  g_cancellable_cancel (cancellable);
  job->status = WE_JOB_STATUS_CANCELLED;
  we_store_job_update_async (store, job, cancellable, waiter_cb, &w);
  g_assert_false (we_store_finish_boolean (store, waiter_wait (&w), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  waiter_clear (&w);
  {
    g_autoptr(WeJob) got = we_store_job_get (store, job->id, &error);
    g_assert_no_error (error);
    g_assert_cmpint (got->status, ==, WE_JOB_STATUS_PROCESSING);
  }
}

/* --- kernels and job ownership ------------------------------------------------------------- */

static gboolean
ids_contain (GPtrArray *ids, const gchar *id)
{
  for (guint i = 0; i < ids->len; i++) {
    if (g_str_equal (g_ptr_array_index (ids, i), id))
      return TRUE;
  }
  return FALSE;
}

static void
test_kernel_ownership (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) mine = make_job ("u", "fs://a", "p", WE_JOB_STATUS_PROCESSING, 1000);
  g_autoptr(WeJob) orphan = make_job ("u", "fs://b", "p", WE_JOB_STATUS_QUEUED, 2000);
  g_autoptr(WeJob) dead = make_job ("u", "fs://c", "p", WE_JOB_STATUS_PROCESSING, 3000);
  g_autoptr(WeJob) done = make_job ("u", "fs://d", "p", WE_JOB_STATUS_COMPLETED, 500);
  g_autoptr(WeJob) got = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GPtrArray) again = NULL;
  g_autoptr(GPtrArray) owned = NULL;
  WeJobFilter filter = { 0 };

  mine->owner_kernel = g_strdup ("kernel-a");
  dead->owner_kernel = g_strdup ("kernel-gone");
  g_assert_true (we_store_kernel_beat (store, "kernel-a", "host-a", &error));
  g_assert_no_error (error);
  g_assert_true (we_store_kernel_beat (store, "kernel-b", "host-b", &error));
  g_assert_no_error (error);
  for (WeJob **j = (WeJob *[]) { mine, orphan, dead, done, NULL }; *j != NULL; j++) {
    g_assert_true (we_store_job_create (store, *j, NULL, &error));
    g_assert_no_error (error);
  }
  got = we_store_job_get (store, mine->id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got->owner_kernel, ==, "kernel-a");

  /* b adopts what no live kernel drives, oldest first, never a's or a finished one */
  ids = we_store_job_claim_orphans (store, "kernel-b", 60, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 2);
  g_assert_true (ids_contain (ids, orphan->id));
  g_assert_true (ids_contain (ids, dead->id));
  /* and only once: a second pass, or a third kernel, finds nothing */
  again = we_store_job_claim_orphans (store, "kernel-b", 60, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, 0);
  g_clear_pointer (&again, g_ptr_array_unref);
  g_assert_true (we_store_kernel_beat (store, "kernel-c", NULL, &error));
  again = we_store_job_claim_orphans (store, "kernel-c", 60, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, 0);
  g_clear_pointer (&again, g_ptr_array_unref);

  /* once a and b are silent for longer than the stale time, c takes all three */
  g_usleep (1100 * 1000);
  g_assert_true (we_store_kernel_beat (store, "kernel-c", NULL, &error));
  again = we_store_job_claim_orphans (store, "kernel-c", 1, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, 2);      /* the limit holds */
  g_assert_true (ids_contain (again, mine->id));
  g_clear_pointer (&again, g_ptr_array_unref);
  again = we_store_job_claim_orphans (store, "kernel-c", 1, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, 1);

  filter.owner_kernel = "kernel-c";
  owned = we_store_job_list (store, &filter, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (owned->len, ==, 3);

  /* c restarts: what it owned is up for adoption again, by itself too */
  g_assert_true (we_store_job_release_owned (store, "kernel-c", &error));
  g_assert_no_error (error);
  g_clear_pointer (&again, g_ptr_array_unref);
  again = we_store_job_claim_orphans (store, "kernel-c", 1, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (again->len, ==, 3);
}

/* Publications have their own owner (migration 0013): the job's owner takes
 * one first; another kernel only once that owner is silent, and then only
 * one kernel (the conditional UPDATE). */
static void
test_publication_claim (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = make_job ("u", "fs://p", "p", WE_JOB_STATUS_COMPLETED, 1000);
  gchar *previous = NULL;

  job->owner_kernel = g_strdup ("kernel-a");
  g_assert_true (we_store_job_create (store, job, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (we_store_kernel_beat (store, "kernel-a", NULL, &error));
  g_assert_true (we_store_kernel_beat (store, "kernel-b", NULL, &error));
  g_assert_true (we_store_publication_put (store, "pub-1", job->id, "queued", 1, 1,
                                           "{\"id\": \"pub-1\"}", &error));
  g_assert_no_error (error);

  /* the job's owner is alive: b may not, a may (and again) */
  g_assert_false (we_store_publication_claim (store, "pub-1", "kernel-b", 60, &previous, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (previous, ==, "kernel-a");
  g_clear_pointer (&previous, g_free);
  g_assert_true (we_store_publication_claim (store, "pub-1", "kernel-a", 60, NULL, &error));
  g_assert_true (we_store_publication_claim (store, "pub-1", "kernel-a", 60, NULL, &error));
  g_assert_false (we_store_publication_claim (store, "pub-1", "kernel-b", 60, NULL, &error));
  g_assert_no_error (error);

  /* a silent (a stale time of 0: every beat is too old): b adopts it, and
   * then a, alive again, cannot take it back while b beats */
  g_assert_true (we_store_publication_claim (store, "pub-1", "kernel-b", 0, &previous, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (previous, ==, "kernel-a");
  g_clear_pointer (&previous, g_free);
  g_assert_false (we_store_publication_claim (store, "pub-1", "kernel-a", 60, &previous, &error));
  g_assert_cmpstr (previous, ==, "kernel-b");
  g_clear_pointer (&previous, g_free);

  /* a finished publication is nobody's to take */
  g_assert_true (we_store_publication_put (store, "pub-1", job->id, "completed", 1, 2,
                                           "{\"id\": \"pub-1\"}", &error));
  g_assert_false (we_store_publication_claim (store, "pub-1", "kernel-b", 0, NULL, &error));
  g_assert_no_error (error);
}

static void
test_job_cancel_is_final (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) job = make_job ("u", "fs://a", "p", WE_JOB_STATUS_PROCESSING, 1000);
  g_autoptr(WeJob) late = NULL;
  g_autoptr(WeJob) got = NULL;

  g_assert_true (we_store_job_create (store, job, NULL, &error));
  late = we_job_copy (job);
  job->status = WE_JOB_STATUS_CANCELLED;
  g_assert_true (we_store_job_update (store, job, &error));
  g_assert_no_error (error);

  /* another kernel's progress write, made before it heard of the cancel */
  late->progress_pct = 50;
  g_assert_false (we_store_job_update (store, late, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_JOB_CANCELLED);
  g_clear_error (&error);
  got = we_store_job_get (store, job->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->status, ==, WE_JOB_STATUS_CANCELLED);
  g_assert_cmpfloat (got->progress_pct, <, 50);
}

static void
test_job_idempotency_key (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeJob) first = make_job ("u", "fs://a", "p", WE_JOB_STATUS_QUEUED, 1000);
  g_autoptr(WeJob) again = make_job ("u", "fs://a", "p", WE_JOB_STATUS_QUEUED, 2000);
  g_autoptr(WeJob) other_user = make_job ("v", "fs://a", "p", WE_JOB_STATUS_QUEUED, 3000);
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GPtrArray) all = NULL;
  WeJobFilter filter = { 0 };

  first->idempotency_key = g_strdup ("k-1");
  again->idempotency_key = g_strdup ("k-1");
  other_user->idempotency_key = g_strdup ("k-1");
  g_assert_true (we_store_job_create (store, first, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (we_store_job_create (store, again, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  /* keys are per user */
  g_assert_true (we_store_job_create (store, other_user, NULL, &error));
  g_assert_no_error (error);

  filter.user_id = "u";
  filter.idempotency_key = "k-1";
  found = we_store_job_list (store, &filter, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpstr (((WeJob *) g_ptr_array_index (found, 0))->id, ==, first->id);
  g_assert_cmpstr (((WeJob *) g_ptr_array_index (found, 0))->idempotency_key, ==, "k-1");
  all = we_store_job_list (store, NULL, NULL, &error);
  g_assert_cmpuint (all->len, ==, 2);
}

/* --- security records (issue 7) -------------------------------------------------------- */

static WeAuditEntry *
make_audit (gint64 at, const gchar *user_id, const gchar *username, const gchar *action,
            const gchar *resource_type, const gchar *resource_id)
{
  WeAuditEntry *entry = we_audit_entry_new ();

  entry->at = at;
  entry->user_id = g_strdup (user_id);
  entry->username = g_strdup (username);
  entry->action = g_strdup (action);
  entry->resource_type = g_strdup (resource_type);
  entry->resource_id = g_strdup (resource_id);
  entry->success = TRUE;
  entry->status = 200;
  return entry;
}

static void
audit_add (WeStore *store, WeAuditEntry *entry)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_audit_add (store, entry, &error));
  g_assert_no_error (error);
  g_assert_cmpint (entry->id, >, 0);
}

/* lists with @filter and checks the total and the actions, in order */
static void
assert_audit_list (WeStore *store, const WeAuditFilter *filter, guint expect_total,
                   const gchar *const *expect_actions)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  guint total = G_MAXUINT;
  guint n = expect_actions != NULL ? g_strv_length ((gchar **) expect_actions) : 0;

  list = we_store_audit_list (store, filter, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, expect_total);
  g_assert_cmpuint (list_len (list), ==, n);
  for (guint i = 0; i < n; i++) {
    WeAuditEntry *entry = g_ptr_array_index (list, i);
    g_assert_cmpstr (entry->action, ==, expect_actions[i]);
  }
}

static void
test_audit_roundtrip (WeStore *store)
{
  g_autoptr(WeAuditEntry) full = make_audit (T0, "3f1c2a9e-0000-4000-8000-000000000001",
                                             "alice", "job.create", "job", "job-1");
  g_autoptr(WeAuditEntry) anon = make_audit (0, NULL, NULL, "auth.login", "session", NULL);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  WeAuditEntry *got;
  gint64 before = g_get_real_time ();
  guint total = 0;

  full->success = FALSE;
  full->status = 422;
  full->error_code = g_strdup ("WE-JOB-007");
  full->payload_digest = g_strdup ("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  full->client_ip = g_strdup ("2001:db8::1");
  full->user_agent = g_strdup ("curl/8 'ünïcödé' \"quoted\"");
  full->request_id = g_strdup ("req-1");
  audit_add (store, full);
  /* at 0 is "now", set by the store; ids grow */
  audit_add (store, anon);
  g_assert_cmpint (anon->at, >=, before);
  g_assert_cmpint (anon->id, >, full->id);

  list = we_store_audit_list (store, NULL, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 2);
  g_assert_cmpuint (list_len (list), ==, 2);
  /* newest first */
  got = g_ptr_array_index (list, 0);
  g_assert_cmpint (got->id, ==, anon->id);
  g_assert_cmpint (got->at, ==, anon->at);
  g_assert_null (got->user_id);
  g_assert_null (got->resource_id);
  g_assert_true (got->success);
  got = g_ptr_array_index (list, 1);
  g_assert_cmpint (got->id, ==, full->id);
  g_assert_cmpint (got->at, ==, T0);
  g_assert_cmpstr (got->user_id, ==, full->user_id);
  g_assert_cmpstr (got->username, ==, "alice");
  g_assert_cmpstr (got->action, ==, "job.create");
  g_assert_cmpstr (got->resource_type, ==, "job");
  g_assert_cmpstr (got->resource_id, ==, "job-1");
  g_assert_false (got->success);
  g_assert_cmpint (got->status, ==, 422);
  g_assert_cmpstr (got->error_code, ==, "WE-JOB-007");
  g_assert_cmpstr (got->payload_digest, ==, full->payload_digest);
  g_assert_cmpstr (got->client_ip, ==, "2001:db8::1");
  g_assert_cmpstr (got->user_agent, ==, full->user_agent);
  g_assert_cmpstr (got->request_id, ==, "req-1");
}

static void
test_audit_filters (WeStore *store)
{
  WeAuditFilter filter = { 0 };
  static const struct {
    gint64       at;
    const gchar *user_id;
    const gchar *username;
    const gchar *action;
    const gchar *type;
    const gchar *id;
  } rows[] = {
    { T0 + 1, "u-alice", "alice", "job.create",     "job",     "j1" },
    { T0 + 2, "u-bob",   "bob",   "job.cancel",     "job",     "j1" },
    { T0 + 3, "u-alice", "alice", "profile.delete", "profile", "p1" },
    { T0 + 4, NULL,      "carol", "auth.login",     "session", NULL },
    { T0 + 5, "u-bob",   "bob",   "jobs.export",    "job",     "j2" },
    { T0 + 6, "u-alice", "alice", "job_create",     "job",     "j3" },
    { T0 + 7, "alice",   "mallory", "job.delete",   "job",     "j2" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
    g_autoptr(WeAuditEntry) e = make_audit (rows[i].at, rows[i].user_id, rows[i].username,
                                            rows[i].action, rows[i].type, rows[i].id);
    audit_add (store, e);
  }

  /* user: the id or the name */
  filter.user = "alice";
  assert_audit_list (store, &filter, 4, (const gchar *[]) {
    "job.delete", "job_create", "profile.delete", "job.create", NULL });
  filter.user = "u-bob";
  assert_audit_list (store, &filter, 2, (const gchar *[]) { "jobs.export", "job.cancel", NULL });
  filter.user = "carol";
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "auth.login", NULL });
  filter.user = "nobody";
  assert_audit_list (store, &filter, 0, NULL);
  filter.user = NULL;

  /* action: exact, or a prefix when it ends in "." (not "jobs.", not "job_") */
  filter.action = "job.create";
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "job.create", NULL });
  filter.action = "job";
  assert_audit_list (store, &filter, 0, NULL);
  filter.action = "job.";
  assert_audit_list (store, &filter, 3, (const gchar *[]) {
    "job.delete", "job.cancel", "job.create", NULL });
  filter.action = "jobs.";
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "jobs.export", NULL });
  filter.action = NULL;

  filter.resource_type = "profile";
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "profile.delete", NULL });
  filter.resource_type = NULL;
  filter.resource_id = "j1";
  assert_audit_list (store, &filter, 2, (const gchar *[]) { "job.cancel", "job.create", NULL });
  filter.resource_id = NULL;

  /* since inclusive, until exclusive */
  filter.since = T0 + 3;
  filter.until = T0 + 5;
  assert_audit_list (store, &filter, 2, (const gchar *[]) { "auth.login", "profile.delete", NULL });
  filter.until = 0;
  assert_audit_list (store, &filter, 5, (const gchar *[]) {
    "job.delete", "job_create", "jobs.export", "auth.login", "profile.delete", NULL });
  filter.since = 0;
  filter.until = T0 + 2;
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "job.create", NULL });
  filter.until = 0;

  /* filters combine */
  filter.user = "alice";
  filter.action = "job.";
  filter.resource_id = "j2";
  assert_audit_list (store, &filter, 1, (const gchar *[]) { "job.delete", NULL });
  filter = (WeAuditFilter) { 0 };

  /* pages: the total is of the whole match */
  filter.limit = 3;
  assert_audit_list (store, &filter, 7, (const gchar *[]) {
    "job.delete", "job_create", "jobs.export", NULL });
  filter.offset = 3;
  assert_audit_list (store, &filter, 7, (const gchar *[]) {
    "auth.login", "profile.delete", "job.cancel", NULL });
  filter.offset = 6;
  assert_audit_list (store, &filter, 7, (const gchar *[]) { "job.create", NULL });
  filter.offset = 7;
  assert_audit_list (store, &filter, 7, NULL);
}

static void
test_audit_default_limit (WeStore *store)
{
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  WeAuditFilter filter = { 0 };
  guint total = 0;

  for (guint i = 0; i < 105; i++) {
    g_autoptr(WeAuditEntry) e = make_audit (T0 + i, "u", "u", "job.create", "job", NULL);
    audit_add (store, e);
  }
  list = we_store_audit_list (store, &filter, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 105);
  g_assert_cmpuint (list_len (list), ==, 100);
  g_assert_cmpint (((WeAuditEntry *) g_ptr_array_index (list, 0))->at, ==, T0 + 104);
  g_clear_pointer (&list, g_ptr_array_unref);
  filter.limit = G_MAXUINT;     /* capped, not an error */
  list = we_store_audit_list (store, &filter, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 105);
}

static WeApiToken *
make_token (const gchar *id, const gchar *hash, gint64 created_at)
{
  WeApiToken *token = we_api_token_new ();

  token->id = g_strdup (id);
  token->name = g_strdup_printf ("CI token %s", id);
  token->token_hash = g_strdup (hash);
  token->prefix = g_strdup ("we_abc12");
  token->user_id = g_strdup ("svc-ci");
  token->username = g_strdup ("ci");
  token->role = WE_ROLE_OPERATOR;
  token->created_by = g_strdup ("u-admin");
  token->created_at = created_at;
  return token;
}

static void
assert_token_equal (const WeApiToken *a, const WeApiToken *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->name, ==, b->name);
  g_assert_cmpstr (a->token_hash, ==, b->token_hash);
  g_assert_cmpstr (a->prefix, ==, b->prefix);
  g_assert_cmpstr (a->user_id, ==, b->user_id);
  g_assert_cmpstr (a->username, ==, b->username);
  g_assert_cmpint (a->role, ==, b->role);
  g_assert_cmpstr (a->created_by, ==, b->created_by);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->expires_at, ==, b->expires_at);
  g_assert_cmpint (a->last_used_at, ==, b->last_used_at);
  g_assert_cmpint (a->revoked_at, ==, b->revoked_at);
}

static void
test_tokens (WeStore *store)
{
  g_autoptr(WeApiToken) a = make_token ("tok_a", "sha256:aaaa", T0);
  g_autoptr(WeApiToken) b = make_token ("tok_b", "sha256:bbbb", T0 + 10);
  g_autoptr(WeApiToken) clash = make_token ("tok_c", "sha256:aaaa", T0 + 20);
  g_autoptr(WeApiToken) copy = NULL;
  g_autoptr(WeApiToken) got = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;

  a->expires_at = T0 + 1000;
  a->role = WE_ROLE_ADMIN;
  b->role = WE_ROLE_VIEWER;
  g_assert_true (we_store_token_put (store, a, &error));
  g_assert_no_error (error);
  g_assert_true (we_store_token_put (store, b, &error));
  g_assert_no_error (error);

  got = we_store_token_get (store, "tok_a", &error);
  g_assert_no_error (error);
  assert_token_equal (got, a);
  g_clear_pointer (&got, we_api_token_free);
  got = we_store_token_get_by_hash (store, "sha256:bbbb", &error);
  g_assert_no_error (error);
  assert_token_equal (got, b);
  g_clear_pointer (&got, we_api_token_free);

  /* missing: by id and by hash, and the hash is not in the message */
  g_assert_null (we_store_token_get (store, "tok_nope", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (we_store_token_get_by_hash (store, "sha256:secretish", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_assert_null (strstr (error->message, "secretish"));
  g_clear_error (&error);

  /* a hash belongs to one token */
  g_assert_false (we_store_token_put (store, clash, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_CONFLICT);
  g_clear_error (&error);

  /* put replaces by id: use and revoke; a revoked token is still found by
   * its hash, for the caller to refuse */
  copy = we_api_token_copy (a);
  assert_token_equal (copy, a);
  copy->last_used_at = T0 + 500;
  copy->revoked_at = T0 + 600;
  g_assert_true (we_store_token_put (store, copy, &error));
  g_assert_no_error (error);
  got = we_store_token_get_by_hash (store, "sha256:aaaa", &error);
  g_assert_no_error (error);
  assert_token_equal (got, copy);
  g_clear_pointer (&got, we_api_token_free);

  /* newest first */
  list = we_store_token_list (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 2);
  assert_token_equal (g_ptr_array_index (list, 0), b);
  assert_token_equal (g_ptr_array_index (list, 1), copy);
}

static WeWebhook *
make_webhook (const gchar *id, const gchar *job_id, gint64 created_at)
{
  WeWebhook *webhook = we_webhook_new ();

  webhook->id = g_strdup (id);
  webhook->url = g_strdup_printf ("https://hooks.example/%s?x=1&y='2'", id);
  webhook->description = g_strdup ("ünïcödé hook");
  webhook->secret_salt = g_strdup ("00ff10ee");
  webhook->job_id = g_strdup (job_id);
  webhook->user_id = g_strdup ("u-op");
  webhook->created_at = created_at;
  webhook->updated_at = created_at + 1;
  return webhook;
}

static void
assert_webhook_equal (const WeWebhook *a, const WeWebhook *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->url, ==, b->url);
  if (a->events == NULL || b->events == NULL)
    g_assert_true (a->events == b->events);
  else
    g_assert_true (g_strv_equal ((const gchar *const *) a->events,
                                 (const gchar *const *) b->events));
  g_assert_cmpstr (a->description, ==, b->description);
  g_assert_cmpstr (a->secret_salt, ==, b->secret_salt);
  g_assert_cmpstr (a->secret_ref, ==, b->secret_ref);
  g_assert_cmpstr (a->job_id, ==, b->job_id);
  g_assert_cmpstr (a->user_id, ==, b->user_id);
  g_assert_cmpint (a->enabled, ==, b->enabled);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
}

static void
test_webhooks (WeStore *store)
{
  g_autoptr(WeWebhook) all = make_webhook ("wh-all", NULL, T0);
  g_autoptr(WeWebhook) some = make_webhook ("wh-some", NULL, T0 + 10);
  g_autoptr(WeWebhook) per_job = make_webhook ("wh-job", "job-1", T0 + 20);
  g_autoptr(WeWebhook) copy = NULL;
  g_autoptr(WeWebhook) got = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;

  some->events = g_strsplit ("job.completed,job.failed", ",", -1);
  some->secret_salt = (g_free (some->secret_salt), NULL);
  some->secret_ref = g_strdup ("vault:kv/hooks#some");
  per_job->enabled = FALSE;
  for (WeWebhook **w = (WeWebhook *[]) { all, some, per_job, NULL }; *w != NULL; w++) {
    g_assert_true (we_store_webhook_put (store, *w, &error));
    g_assert_no_error (error);
  }

  got = we_store_webhook_get (store, "wh-some", &error);
  g_assert_no_error (error);
  assert_webhook_equal (got, some);
  g_clear_pointer (&got, we_webhook_free);
  /* no events: every event, read back as NULL */
  got = we_store_webhook_get (store, "wh-all", &error);
  g_assert_no_error (error);
  assert_webhook_equal (got, all);
  g_clear_pointer (&got, we_webhook_free);
  g_assert_null (we_store_webhook_get (store, "wh-nope", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);

  list = we_store_webhook_list (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 3);
  assert_webhook_equal (g_ptr_array_index (list, 0), all);
  assert_webhook_equal (g_ptr_array_index (list, 2), per_job);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_store_webhook_list (store, "job-1", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 1);
  assert_webhook_equal (g_ptr_array_index (list, 0), per_job);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_store_webhook_list (store, "job-2", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* put replaces by id */
  copy = we_webhook_copy (some);
  assert_webhook_equal (copy, some);
  g_strfreev (copy->events);
  copy->events = g_strsplit ("job.started", ",", -1);
  copy->enabled = FALSE;
  copy->updated_at = T0 + 99;
  g_assert_true (we_store_webhook_put (store, copy, &error));
  g_assert_no_error (error);
  got = we_store_webhook_get (store, "wh-some", &error);
  g_assert_no_error (error);
  assert_webhook_equal (got, copy);
  g_clear_pointer (&got, we_webhook_free);

  g_assert_true (we_store_webhook_delete (store, "wh-all", &error));
  g_assert_no_error (error);
  g_assert_false (we_store_webhook_delete (store, "wh-all", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);
  list = we_store_webhook_list (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (list), ==, 2);
}

static void
put_webhook (WeStore *store, const gchar *id)
{
  g_autoptr(WeWebhook) webhook = make_webhook (id, NULL, T0);
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_webhook_put (store, webhook, &error));
  g_assert_no_error (error);
}

static WeWebhookDelivery *
make_delivery (const gchar *webhook_id, gint64 next_attempt_at, gint64 created_at)
{
  WeWebhookDelivery *delivery = we_webhook_delivery_new ();

  delivery->webhook_id = g_strdup (webhook_id);
  delivery->event_id = we_uuid_new ();
  delivery->event_type = g_strdup ("job.completed");
  delivery->payload = g_strdup ("{\"event\":\"job.completed\",  \"data\":{\"id\":\"j\"}}\n");
  delivery->next_attempt_at = next_attempt_at;
  delivery->created_at = created_at;
  delivery->updated_at = created_at;
  return delivery;
}

static void
add_delivery (WeStore *store, WeWebhookDelivery *delivery)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_delivery_add (store, delivery, &error));
  g_assert_no_error (error);
  g_assert_nonnull (delivery->id);
}

static void
assert_log_equal (JsonArray *a, JsonArray *b)
{
  g_autoptr(JsonNode) na = NULL;
  g_autoptr(JsonNode) nb = NULL;

  /* NULL and [] both mean "no attempt yet" */
  if (a == NULL || b == NULL) {
    g_assert_cmpuint (a != NULL ? json_array_get_length (a) : 0, ==,
                      b != NULL ? json_array_get_length (b) : 0);
    return;
  }
  na = json_node_init_array (json_node_alloc (), a);
  nb = json_node_init_array (json_node_alloc (), b);
  if (!json_node_equal (na, nb)) {
    g_autofree gchar *sa = json_to_string (na, FALSE);
    g_autofree gchar *sb = json_to_string (nb, FALSE);
    g_assert_cmpstr (sa, ==, sb);
  }
}

static void
assert_delivery_equal (const WeWebhookDelivery *a, const WeWebhookDelivery *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->webhook_id, ==, b->webhook_id);
  g_assert_cmpstr (a->event_id, ==, b->event_id);
  g_assert_cmpstr (a->event_type, ==, b->event_type);
  g_assert_cmpstr (a->payload, ==, b->payload);
  g_assert_cmpint (a->state, ==, b->state);
  g_assert_cmpint (a->attempts, ==, b->attempts);
  g_assert_cmpint (a->next_attempt_at, ==, b->next_attempt_at);
  g_assert_cmpint (a->claim_until, ==, b->claim_until);
  g_assert_cmpstr (a->claimed_by, ==, b->claimed_by);
  g_assert_cmpint (a->last_status, ==, b->last_status);
  g_assert_cmpstr (a->last_error, ==, b->last_error);
  assert_log_equal (a->log, b->log);
  g_assert_cmpstr (a->replay_of, ==, b->replay_of);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
  g_assert_cmpint (a->delivered_at, ==, b->delivered_at);
}

static void
test_delivery_state_strings (WeStore *store)
{
  WeDeliveryState state = WE_DELIVERY_FAILED;

  for (guint s = WE_DELIVERY_PENDING; s <= WE_DELIVERY_FAILED; s++) {
    g_assert_true (we_delivery_state_from_string (we_delivery_state_to_string (s), &state));
    g_assert_cmpint (state, ==, s);
  }
  g_assert_cmpstr (we_delivery_state_to_string (WE_DELIVERY_SUCCEEDED), ==, "succeeded");
  g_assert_false (we_delivery_state_from_string ("done", &state));
  g_assert_false (we_delivery_state_from_string (NULL, &state));
  g_assert_null (we_delivery_state_to_string ((WeDeliveryState) 42));
}

static void
test_deliveries (WeStore *store)
{
  g_autoptr(WeWebhookDelivery) first = make_delivery ("wh-1", T0, T0);
  g_autoptr(WeWebhookDelivery) mine = make_delivery ("wh-1", T0, T0 + 10);
  g_autoptr(WeWebhookDelivery) other = make_delivery ("wh-2", T0, T0 + 20);
  g_autoptr(WeWebhookDelivery) orphan = make_delivery ("wh-nope", T0, T0);
  g_autoptr(WeWebhookDelivery) got = NULL;
  g_autoptr(WeWebhookDelivery) copy = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) attempt = json_object_new ();
  guint total = 0;

  put_webhook (store, "wh-1");
  put_webhook (store, "wh-2");

  /* no id: the store makes one; a caller's id is kept */
  add_delivery (store, first);
  g_assert_true (g_uuid_string_is_valid (first->id));
  mine->id = g_strdup ("dlv-mine");
  mine->replay_of = g_strdup (first->id);
  add_delivery (store, mine);
  g_assert_cmpstr (mine->id, ==, "dlv-mine");
  add_delivery (store, other);
  g_assert_false (we_store_delivery_add (store, orphan, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);

  got = we_store_delivery_get (store, "dlv-mine", &error);
  g_assert_no_error (error);
  assert_delivery_equal (got, mine);
  g_assert_cmpint (got->state, ==, WE_DELIVERY_PENDING);
  g_assert_nonnull (got->log);
  g_clear_pointer (&got, we_webhook_delivery_free);
  g_assert_null (we_store_delivery_get (store, "dlv-nope", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);

  /* update writes every mutable field */
  copy = we_webhook_delivery_copy (mine);
  copy->state = WE_DELIVERY_SUCCEEDED;
  copy->attempts = 3;
  copy->next_attempt_at = T0 + 5000;
  copy->claim_until = T0 + 6000;
  copy->claimed_by = g_strdup ("kernel-a");
  copy->last_status = 204;
  copy->last_error = g_strdup ("connection reset — retried");
  copy->log = json_array_new ();
  json_object_set_int_member (attempt, "at", T0 + 1);
  json_object_set_int_member (attempt, "status", 503);
  json_object_set_string_member (attempt, "error", "HTTP 503");
  json_object_set_int_member (attempt, "duration_ms", 12);
  json_array_add_object_element (copy->log, g_steal_pointer (&attempt));
  copy->updated_at = T0 + 7000;
  copy->delivered_at = T0 + 7000;
  g_assert_true (we_store_delivery_update (store, copy, &error));
  g_assert_no_error (error);
  got = we_store_delivery_get (store, "dlv-mine", &error);
  g_assert_no_error (error);
  assert_delivery_equal (got, copy);
  g_clear_pointer (&got, we_webhook_delivery_free);
  /* a copy's log is its own: the dispatcher appends to it */
  {
    g_autoptr(WeWebhookDelivery) again = we_webhook_delivery_copy (copy);

    json_object_set_int_member (json_array_get_object_element (again->log, 0), "status", 200);
    json_array_add_null_element (again->log);
    g_assert_cmpuint (json_array_get_length (copy->log), ==, 1);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (copy->log, 0),
                                                 "status"), ==, 503);
  }
  g_free (copy->id);
  copy->id = g_strdup ("dlv-nope");
  g_assert_false (we_store_delivery_update (store, copy, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);

  /* lists: newest first, per webhook or all, with the total */
  list = we_store_delivery_list (store, "wh-1", 0, 0, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 2);
  g_assert_cmpuint (list_len (list), ==, 2);
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (list, 0))->id, ==, "dlv-mine");
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (list, 1))->id, ==, first->id);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_store_delivery_list (store, "wh-1", 1, 1, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 2);
  g_assert_cmpuint (list_len (list), ==, 1);
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (list, 0))->id, ==, first->id);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_store_delivery_list (store, NULL, 0, 0, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 3);
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (list, 0))->id, ==, other->id);
  g_clear_pointer (&list, g_ptr_array_unref);

  /* deleting a webhook deletes its deliveries, and only its */
  g_assert_true (we_store_webhook_delete (store, "wh-1", &error));
  g_assert_no_error (error);
  g_assert_null (we_store_delivery_get (store, "dlv-mine", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  g_clear_error (&error);
  list = we_store_delivery_list (store, "wh-1", 0, 0, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 0);
  g_assert_cmpuint (list_len (list), ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = we_store_delivery_list (store, NULL, 0, 0, &total, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 1);
}

static GPtrArray *
claim (WeStore *store, const gchar *kernel_id, gint64 now, gint64 lease_us, guint limit)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *claimed = we_store_delivery_claim (store, kernel_id, now, lease_us, limit, &error);

  g_assert_no_error (error);
  g_assert_nonnull (claimed);
  return claimed;
}

static const gchar *
delivery_id_at (GPtrArray *list, guint i)
{
  return ((WeWebhookDelivery *) g_ptr_array_index (list, i))->id;
}

#define LEASE G_GINT64_CONSTANT (60000000)

static void
test_delivery_claim (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) got = NULL;
  g_autoptr(WeWebhookDelivery) stored = NULL;
  gint64 now = T0 + 1000;
  /* due at different times, added out of order */
  struct { const gchar *id; gint64 next; WeDeliveryState state; } rows[] = {
    { "d-later",   now - 10, WE_DELIVERY_PENDING },
    { "d-first",   now - 30, WE_DELIVERY_PENDING },
    { "d-due-now", now,      WE_DELIVERY_PENDING },
    { "d-future",  now + 1,  WE_DELIVERY_PENDING },
    { "d-middle",  now - 20, WE_DELIVERY_PENDING },
    { "d-done",    now - 40, WE_DELIVERY_SUCCEEDED },
    { "d-gaveup",  now - 40, WE_DELIVERY_FAILED },
  };

  put_webhook (store, "wh");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++) {
    g_autoptr(WeWebhookDelivery) d = make_delivery ("wh", rows[i].next, T0 + i);

    d->id = g_strdup (rows[i].id);
    d->state = rows[i].state;
    add_delivery (store, d);
  }

  /* the limit holds; the most overdue come first */
  got = claim (store, "kernel-a", now, LEASE, 2);
  g_assert_cmpuint (got->len, ==, 2);
  g_assert_cmpstr (delivery_id_at (got, 0), ==, "d-first");
  g_assert_cmpstr (delivery_id_at (got, 1), ==, "d-middle");
  for (guint i = 0; i < got->len; i++) {
    WeWebhookDelivery *d = g_ptr_array_index (got, i);

    g_assert_cmpint (d->state, ==, WE_DELIVERY_DELIVERING);
    g_assert_cmpstr (d->claimed_by, ==, "kernel-a");
    g_assert_cmpint (d->claim_until, ==, now + LEASE);
  }
  g_clear_pointer (&got, g_ptr_array_unref);
  stored = we_store_delivery_get (store, "d-first", &error);
  g_assert_no_error (error);
  g_assert_cmpint (stored->state, ==, WE_DELIVERY_DELIVERING);
  g_assert_cmpstr (stored->claimed_by, ==, "kernel-a");
  g_assert_cmpint (stored->claim_until, ==, now + LEASE);
  g_clear_pointer (&stored, we_webhook_delivery_free);

  /* the rest that is due (next_attempt_at <= now), never the future,
   * finished or claimed ones */
  got = claim (store, "kernel-b", now, LEASE, 10);
  g_assert_cmpuint (got->len, ==, 2);
  g_assert_cmpstr (delivery_id_at (got, 0), ==, "d-later");
  g_assert_cmpstr (delivery_id_at (got, 1), ==, "d-due-now");
  g_clear_pointer (&got, g_ptr_array_unref);
  got = claim (store, "kernel-b", now, LEASE, 10);
  g_assert_cmpuint (got->len, ==, 0);
  g_clear_pointer (&got, g_ptr_array_unref);

  /* a while later the future one is due; the leases still hold */
  got = claim (store, "kernel-b", now + LEASE, LEASE, 10);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_cmpstr (delivery_id_at (got, 0), ==, "d-future");
  g_clear_pointer (&got, g_ptr_array_unref);

  /* kernel-a finishes one and reschedules the other */
  stored = we_store_delivery_get (store, "d-first", &error);
  g_assert_no_error (error);
  stored->state = WE_DELIVERY_SUCCEEDED;
  stored->attempts = 1;
  stored->delivered_at = now + 5;
  g_clear_pointer (&stored->claimed_by, g_free);
  stored->claim_until = 0;
  g_assert_true (we_store_delivery_update (store, stored, &error));
  g_assert_no_error (error);
  g_clear_pointer (&stored, we_webhook_delivery_free);
  stored = we_store_delivery_get (store, "d-middle", &error);
  g_assert_no_error (error);
  stored->state = WE_DELIVERY_PENDING;
  stored->attempts = 1;
  stored->next_attempt_at = now + 2 * LEASE;
  g_assert_true (we_store_delivery_update (store, stored, &error));
  g_assert_no_error (error);
  g_clear_pointer (&stored, we_webhook_delivery_free);

  /* kernel-b dies: once its leases lapsed (claim_until < now), kernel-c
   * takes them over, together with the rescheduled one now due */
  got = claim (store, "kernel-c", now + LEASE + 1, LEASE, 10);
  g_assert_cmpuint (got->len, ==, 2);
  g_assert_cmpstr (delivery_id_at (got, 0), ==, "d-later");
  g_assert_cmpstr (delivery_id_at (got, 1), ==, "d-due-now");
  g_assert_cmpstr (((WeWebhookDelivery *) g_ptr_array_index (got, 0))->claimed_by, ==,
                   "kernel-c");
  g_clear_pointer (&got, g_ptr_array_unref);
  got = claim (store, "kernel-c", now + 2 * LEASE, LEASE, 10);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_cmpstr (delivery_id_at (got, 0), ==, "d-middle");
  g_clear_pointer (&got, g_ptr_array_unref);

  /* finished ones are never claimed, however late */
  got = claim (store, "kernel-d", now + 100 * LEASE, LEASE, 100);
  g_assert_cmpuint (got->len, ==, 4);
  for (guint i = 0; i < got->len; i++) {
    g_assert_cmpstr (delivery_id_at (got, i), !=, "d-first");
    g_assert_cmpstr (delivery_id_at (got, i), !=, "d-done");
    g_assert_cmpstr (delivery_id_at (got, i), !=, "d-gaveup");
  }
}

/* --- claim races: several claimers, one delivery each once --------------------------- */

#define RACE_DELIVERIES 80
#define RACE_CLAIMERS   4

typedef struct {
  WeStore    *store;
  gchar      *kernel_id;
  gint64      now;
  GPtrArray  *ids;     /* what this claimer got */
  GError     *error;
  GMutex     *mutex;
  GCond      *cond;
  gboolean   *go;
} Claimer;

static gpointer
claimer_run (gpointer data)
{
  Claimer *c = data;

  /* all at once, so the claims overlap as much as they can */
  g_mutex_lock (c->mutex);
  while (!*c->go)
    g_cond_wait (c->cond, c->mutex);
  g_mutex_unlock (c->mutex);
  for (;;) {
    g_autoptr(GPtrArray) got =
      we_store_delivery_claim (c->store, c->kernel_id, c->now, LEASE, 3, &c->error);

    if (got == NULL || got->len == 0)
      break;
    for (guint i = 0; i < got->len; i++)
      g_ptr_array_add (c->ids, g_strdup (delivery_id_at (got, i)));
  }
  return NULL;
}

void
we_store_test_delivery_claim_race (WeStore *a, WeStore *b)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GError) error = NULL;
  Claimer claimers[RACE_CLAIMERS];
  GThread *threads[RACE_CLAIMERS];
  gboolean go = FALSE;
  GMutex mutex;
  GCond cond;
  guint n = 0;

  put_webhook (a, "wh-race");
  for (guint i = 0; i < RACE_DELIVERIES; i++) {
    g_autoptr(WeWebhookDelivery) d = make_delivery ("wh-race", T0 + i, T0 + i);
    add_delivery (i % 2 == 0 ? a : b, d);
  }
  for (guint i = 0; i < RACE_CLAIMERS; i++) {
    claimers[i] = (Claimer) { i % 2 == 0 ? a : b, g_strdup_printf ("kernel-%u", i),
                              T0 + RACE_DELIVERIES, g_ptr_array_new_with_free_func (g_free),
                              NULL, &mutex, &cond, &go };
  }
  g_mutex_init (&mutex);
  g_cond_init (&cond);
  for (guint i = 0; i < RACE_CLAIMERS; i++)
    threads[i] = g_thread_new ("claimer", claimer_run, &claimers[i]);
  g_mutex_lock (&mutex);
  go = TRUE;
  g_cond_broadcast (&cond);
  g_mutex_unlock (&mutex);
  for (guint i = 0; i < RACE_CLAIMERS; i++)
    g_thread_join (threads[i]);
  g_mutex_clear (&mutex);
  g_cond_clear (&cond);

  for (guint i = 0; i < RACE_CLAIMERS; i++) {
    g_assert_no_error (claimers[i].error);
    for (guint j = 0; j < claimers[i].ids->len; j++) {
      const gchar *id = g_ptr_array_index (claimers[i].ids, j);

      if (!g_hash_table_add (seen, (gpointer) id))
        g_error ("delivery %s was claimed twice", id);
      n++;
    }
    g_test_message ("%s claimed %u", claimers[i].kernel_id, claimers[i].ids->len);
  }
  g_assert_cmpuint (n, ==, RACE_DELIVERIES);
  /* and each is held by the claimer that returned it */
  g_hash_table_remove_all (seen);
  for (guint i = 0; i < RACE_CLAIMERS; i++) {
    for (guint j = 0; j < claimers[i].ids->len; j++)
      g_hash_table_insert (seen, g_ptr_array_index (claimers[i].ids, j), claimers[i].kernel_id);
  }
  all = we_store_delivery_list (b, "wh-race", 1000, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list_len (all), ==, RACE_DELIVERIES);
  for (guint i = 0; i < all->len; i++) {
    WeWebhookDelivery *d = g_ptr_array_index (all, i);

    g_assert_cmpint (d->state, ==, WE_DELIVERY_DELIVERING);
    g_assert_cmpstr (d->claimed_by, ==, g_hash_table_lookup (seen, d->id));
  }
  g_hash_table_remove_all (seen);
  for (guint i = 0; i < RACE_CLAIMERS; i++) {
    g_free (claimers[i].kernel_id);
    g_ptr_array_unref (claimers[i].ids);
  }
}

static void
test_delivery_claim_threads (WeStore *store)
{
  /* one store, several threads: PostgreSQL runs them on separate pooled
   * sessions, SQLite serialises them */
  we_store_test_delivery_claim_race (store, store);
}

static gpointer
call_token_get (WeStore *store, gpointer data, GError **error)
{
  return we_store_token_get (store, data, error);
}

static void
test_security_call_async (WeStore *store)
{
  g_autoptr(WeApiToken) token = make_token ("tok_async", "sha256:async", T0);
  g_autoptr(WeApiToken) got = NULL;
  g_autoptr(GError) error = NULL;
  Waiter w = { NULL, g_thread_self () };

  g_assert_true (we_store_token_put (store, token, &error));
  we_store_call_async (store, call_token_get, g_strdup ("tok_async"), g_free,
                       (GDestroyNotify) we_api_token_free, NULL, waiter_cb, &w);
  got = we_store_call_finish (store, waiter_wait (&w), &error);
  g_assert_no_error (error);
  assert_token_equal (got, token);
  waiter_clear (&w);
  we_store_call_async (store, call_token_get, g_strdup ("tok_nope"), g_free,
                       (GDestroyNotify) we_api_token_free, NULL, waiter_cb, &w);
  g_assert_null (we_store_call_finish (store, waiter_wait (&w), &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  waiter_clear (&w);
}

/* --- registration ------------------------------------------------------------------------ */

static void
store_case_run (gconstpointer data)
{
  const StoreCase *c = data;
  g_autoptr(GError) error = NULL;
  WeStore *store = c->factory (&error);

  g_assert_no_error (error);
  g_assert_true (WE_IS_STORE (store));
  c->func (store);

  /* let every completion be delivered, so the last reference goes here */
  we_store_flush (store);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (store);
}

static void
add_case (const gchar *prefix, const gchar *name, WeStoreTestFactory factory, StoreTestFunc func)
{
  g_autofree gchar *path = g_strdup_printf ("%s/%s", prefix, name);
  StoreCase *c = g_new0 (StoreCase, 1);

  c->factory = factory;
  c->func = func;
  g_test_add_data_func_full (path, c, store_case_run, g_free);
}

/* --- pipeline introspection ------------------------------------------------------ */

static void
put_pipeline (WeStore *store, const gchar *job_id, const gchar *task_id, gint attempt,
              const gchar *stage, const gchar *launch, const gchar *dot, gint64 at)
{
  g_autoptr(WeTaskPipeline) pipeline = we_task_pipeline_new ();
  g_autoptr(GError) error = NULL;

  pipeline->job_id = g_strdup (job_id);
  pipeline->task_id = g_strdup (task_id);
  pipeline->attempt = attempt;
  pipeline->stage = g_strdup (stage);
  pipeline->launch = g_strdup (launch);
  pipeline->dot = g_strdup (dot);
  pipeline->recorded_at = at;
  g_assert_true (we_store_task_pipeline_put (store, pipeline, &error));
  g_assert_no_error (error);
}

static WeTaskPipeline *
pipeline_at (GPtrArray *pipelines, guint i)
{
  return g_ptr_array_index (pipelines, i);
}

static void
test_task_pipelines (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 2);
  g_autoptr(GError) error = NULL;
  WeTask *t0 = g_ptr_array_index (tasks, 0);
  WeTask *t1 = g_ptr_array_index (tasks, 1);
  /* quotes, newlines and non-ASCII survive the round trip */
  const gchar *launch = "filesrc location=\"/in put/ä.mp4\" ! decodebin ! fakesink";
  const gchar *dot = "digraph pipeline {\n  label=\"x\";\n}\n";

  create_job (store, job, tasks);
  /* recorded out of task order: the list follows the tasks' sequence */
  put_pipeline (store, job->id, t1->id, 1, "transcode", "videotestsrc ! fakesink", NULL, T0 + 5);
  put_pipeline (store, job->id, t0->id, 1, "probe", "filesrc ! fakesink", dot, T0 + 1);
  put_pipeline (store, job->id, t0->id, 1, "transcode", launch, dot, T0 + 2);
  {
    g_autoptr(GPtrArray) all = we_store_task_pipeline_list (store, job->id, NULL, &error);
    g_autoptr(GPtrArray) one = we_store_task_pipeline_list (store, job->id, t0->id, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (all), ==, 3);
    g_assert_cmpstr (pipeline_at (all, 0)->task_id, ==, t0->id);
    g_assert_cmpstr (pipeline_at (all, 0)->stage, ==, "probe");
    g_assert_cmpstr (pipeline_at (all, 1)->stage, ==, "transcode");
    g_assert_cmpstr (pipeline_at (all, 1)->launch, ==, launch);
    g_assert_cmpstr (pipeline_at (all, 1)->dot, ==, dot);
    g_assert_cmpstr (pipeline_at (all, 1)->job_id, ==, job->id);
    g_assert_cmpint (pipeline_at (all, 1)->attempt, ==, 1);
    g_assert_cmpint (pipeline_at (all, 1)->recorded_at, ==, T0 + 2);
    g_assert_cmpstr (pipeline_at (all, 2)->task_id, ==, t1->id);
    g_assert_null (pipeline_at (all, 2)->dot);
    g_assert_cmpuint (list_len (one), ==, 2);
  }

  /* a retry replaces its stage and drops what the earlier attempt ran */
  put_pipeline (store, job->id, t0->id, 2, "transcode", "videotestsrc ! x264enc ! fakesink",
                NULL, T0 + 10);
  /* a late report of the earlier attempt changes nothing */
  put_pipeline (store, job->id, t0->id, 1, "transcode", "late", dot, T0 + 11);
  {
    g_autoptr(GPtrArray) one = we_store_task_pipeline_list (store, job->id, t0->id, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (one), ==, 1);
    g_assert_cmpstr (pipeline_at (one, 0)->stage, ==, "transcode");
    g_assert_cmpstr (pipeline_at (one, 0)->launch, ==, "videotestsrc ! x264enc ! fakesink");
    g_assert_null (pipeline_at (one, 0)->dot);
    g_assert_cmpint (pipeline_at (one, 0)->attempt, ==, 2);
    g_assert_cmpint (pipeline_at (one, 0)->recorded_at, ==, T0 + 10);
  }

  /* nothing for an unknown task; reports about one are refused */
  {
    g_autoptr(GPtrArray) none = we_store_task_pipeline_list (store, job->id, "no-such-task",
                                                             &error);
    g_autoptr(WeTaskPipeline) stray = we_task_pipeline_new ();

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (none), ==, 0);
    stray->job_id = g_strdup (job->id);
    stray->task_id = g_strdup ("no-such-task");
    stray->stage = g_strdup ("transcode");
    stray->launch = g_strdup ("fakesrc ! fakesink");
    g_assert_false (we_store_task_pipeline_put (store, stray, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  }
}

static void
put_task_log (WeStore *store, const gchar *job_id, const gchar *task_id, gint attempt,
              const gchar *url, gint64 size, gboolean truncated)
{
  g_autoptr(WeTaskLog) log = we_task_log_new ();
  g_autoptr(GError) error = NULL;

  log->job_id = g_strdup (job_id);
  log->task_id = g_strdup (task_id);
  log->attempt = attempt;
  log->url = g_strdup (url);
  log->size_bytes = size;
  log->truncated = truncated;
  log->recorded_at = T0 + attempt;
  g_assert_true (we_store_task_log_put (store, log, &error));
  g_assert_no_error (error);
}

static void
test_task_logs (WeStore *store)
{
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 2);
  g_autoptr(GError) error = NULL;
  WeTask *t0 = g_ptr_array_index (tasks, 0);
  WeTask *t1 = g_ptr_array_index (tasks, 1);

  create_job (store, job, tasks);
  put_task_log (store, job->id, t1->id, 1, "file:///out.logs/t1-1.log", 10, FALSE);
  put_task_log (store, job->id, t0->id, 1, "file:///out.logs/t0-1.log", 20, FALSE);
  put_task_log (store, job->id, t0->id, 2, "file:///out.logs/t0-2.log", 30, TRUE);
  put_task_log (store, job->id, t0->id, 1, "file:///out.logs/late.log", 1, FALSE);
  {
    g_autoptr(GPtrArray) all = we_store_task_log_list (store, job->id, NULL, &error);
    g_autoptr(GPtrArray) one = we_store_task_log_list (store, job->id, t0->id, &error);
    WeTaskLog *log;

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (all), ==, 2);
    log = g_ptr_array_index (all, 0);
    g_assert_cmpstr (log->task_id, ==, t0->id);
    g_assert_cmpstr (log->job_id, ==, job->id);
    g_assert_cmpstr (log->url, ==, "file:///out.logs/t0-2.log");
    g_assert_cmpint (log->attempt, ==, 2);
    g_assert_cmpint (log->size_bytes, ==, 30);
    g_assert_true (log->truncated);
    g_assert_cmpint (log->recorded_at, ==, T0 + 2);
    log = g_ptr_array_index (all, 1);
    g_assert_cmpstr (log->url, ==, "file:///out.logs/t1-1.log");
    g_assert_false (log->truncated);
    g_assert_cmpuint (list_len (one), ==, 1);
  }
  {
    g_autoptr(WeTaskLog) stray = we_task_log_new ();

    stray->job_id = g_strdup (job->id);
    stray->task_id = g_strdup ("no-such-task");
    stray->url = g_strdup ("file:///x.log");
    g_assert_false (we_store_task_log_put (store, stray, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_JOB_NOT_FOUND);
  }
}

/* --- error tracking ---------------------------------------------------------------- */

static WeErrorEvent *
add_error_event (WeStore *store, const gchar *source, const gchar *severity,
                 const gchar *message, gint64 created_at)
{
  g_autoptr(GError) error = NULL;
  WeErrorEvent *event = we_error_event_new ();

  event->source_component = g_strdup (source);
  event->severity = g_strdup (severity);
  event->message = g_strdup (message);
  event->created_at = created_at;
  g_assert_true (we_store_error_event_add (store, event, &error));
  g_assert_no_error (error);
  g_assert_nonnull (event->id);
  return event;
}

static GPtrArray *
list_error_events (WeStore *store, const WeErrorFilter *filter, guint *total)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *events = we_store_error_event_list (store, filter, total, &error);

  g_assert_no_error (error);
  g_assert_nonnull (events);
  return events;
}

static void
test_error_events_roundtrip (WeStore *store)
{
  g_autoptr(WeErrorEvent) added = we_error_event_new ();
  g_autoptr(WeErrorEvent) now = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GError) error = NULL;
  WeErrorFilter filter = { .resolved = -1 };
  WeErrorEvent *got;
  guint total = 0;
  gint64 before = g_get_real_time ();

  added->source_component = g_strdup ("frontend");
  added->severity = g_strdup ("critical");
  added->message = g_strdup ("TypeError: x is undefined");
  added->stack_trace = g_strdup ("at f (app.js:1:2)\nat g (app.js:3:4)");
  added->context_data = g_strdup ("{\"url\":\"/jobs/42\",\"token\":\"[REDACTED]\"}");
  g_assert_true (we_store_error_event_add (store, added, &error));
  g_assert_no_error (error);
  g_assert_nonnull (added->id);
  g_assert_cmpint (added->created_at, >=, before);
  now = add_error_event (store, "kernel", "error", "plain", 0);

  events = list_error_events (store, &filter, &total);
  g_assert_cmpuint (total, ==, 2);
  g_assert_cmpuint (events->len, ==, 2);
  /* newest first */
  got = g_ptr_array_index (events, 0);
  g_assert_cmpstr (got->id, ==, now->id);
  g_assert_null (got->stack_trace);
  g_assert_cmpstr (got->context_data, ==, "{}");
  got = g_ptr_array_index (events, 1);
  g_assert_cmpstr (got->id, ==, added->id);
  g_assert_cmpstr (got->source_component, ==, "frontend");
  g_assert_cmpstr (got->severity, ==, "critical");
  g_assert_cmpstr (got->message, ==, added->message);
  g_assert_cmpstr (got->stack_trace, ==, added->stack_trace);
  g_assert_cmpint (got->created_at, ==, added->created_at);
  g_assert_false (got->resolved);
  g_assert_cmpint (got->resolved_at, ==, 0);
  {
    /* PostgreSQL keeps JSONB in its own spelling: compare the parsed object */
    g_autoptr(JsonParser) parser = json_parser_new ();
    JsonObject *object;

    g_assert_true (json_parser_load_from_data (parser, got->context_data, -1, NULL));
    object = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpstr (json_object_get_string_member (object, "url"), ==, "/jobs/42");
    g_assert_cmpstr (json_object_get_string_member (object, "token"), ==, "[REDACTED]");
  }
  {
    /* a severity outside the enum is refused by the table itself */
    g_autoptr(WeErrorEvent) bad = we_error_event_new ();

    bad->source_component = g_strdup ("frontend");
    bad->severity = g_strdup ("meh");
    bad->message = g_strdup ("x");
    g_assert_false (we_store_error_event_add (store, bad, &error));
    g_assert_error (error, WE_ERROR, WE_ERROR_SYS_DATABASE);
  }
}

static void
test_error_events_filters (WeStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WeErrorEvent) a = add_error_event (store, "frontend", "error", "a", T0 + 1);
  g_autoptr(WeErrorEvent) b = add_error_event (store, "kernel", "error", "b", T0 + 2);
  g_autoptr(WeErrorEvent) c = add_error_event (store, "frontend", "warning", "c", T0 + 3);
  g_autoptr(WeErrorEvent) d = add_error_event (store, "frontend", "fatal", "d", T0 + 4);
  guint total = 0;

  {
    WeErrorFilter filter = { .source_component = "frontend", .resolved = -1 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);

    g_assert_cmpuint (total, ==, 3);
    g_assert_cmpstr (((WeErrorEvent *) g_ptr_array_index (got, 0))->message, ==, "d");
    g_assert_cmpstr (((WeErrorEvent *) g_ptr_array_index (got, 2))->message, ==, "a");
  }
  {
    WeErrorFilter filter = { .severity = "error", .resolved = -1 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);

    g_assert_cmpuint (total, ==, 2);
    g_assert_cmpuint (got->len, ==, 2);
  }
  {
    WeErrorFilter filter = { .since = T0 + 3, .resolved = -1 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);

    g_assert_cmpuint (total, ==, 2);
  }
  {
    /* paging: the total counts every match, the page only its share */
    WeErrorFilter filter = { .resolved = -1, .limit = 2, .offset = 1 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);

    g_assert_cmpuint (total, ==, 4);
    g_assert_cmpuint (got->len, ==, 2);
    g_assert_cmpstr (((WeErrorEvent *) g_ptr_array_index (got, 0))->message, ==, "c");
    g_assert_cmpstr (((WeErrorEvent *) g_ptr_array_index (got, 1))->message, ==, "b");
  }

  /* resolving, and the resolved filter both ways */
  g_assert_true (we_store_error_event_set_resolved (store, b->id, TRUE, "ada", &error));
  g_assert_no_error (error);
  {
    WeErrorFilter filter = { .resolved = 1 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);
    WeErrorEvent *e;

    g_assert_cmpuint (total, ==, 1);
    e = g_ptr_array_index (got, 0);
    g_assert_cmpstr (e->id, ==, b->id);
    g_assert_true (e->resolved);
    g_assert_cmpint (e->resolved_at, >, 0);
    g_assert_cmpstr (e->resolved_by, ==, "ada");
  }
  {
    WeErrorFilter filter = { .resolved = 0 };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);

    g_assert_cmpuint (total, ==, 3);
  }
  /* reopening forgets who resolved it */
  g_assert_true (we_store_error_event_set_resolved (store, b->id, FALSE, "ada", &error));
  g_assert_no_error (error);
  {
    WeErrorFilter filter = { .resolved = 0, .source_component = "kernel" };
    g_autoptr(GPtrArray) got = list_error_events (store, &filter, &total);
    WeErrorEvent *e;

    g_assert_cmpuint (total, ==, 1);
    e = g_ptr_array_index (got, 0);
    g_assert_false (e->resolved);
    g_assert_cmpint (e->resolved_at, ==, 0);
    g_assert_null (e->resolved_by);
  }
  g_assert_false (we_store_error_event_set_resolved (store, "no-such-id", TRUE, NULL, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_SYS_NOT_FOUND);
  (void) a;
  (void) c;
  (void) d;
}

static void
test_task_debug_cascade (WeStore *store)
{
  g_autoptr(WeJob) a = make_full_job ();
  g_autoptr(WeJob) b = make_full_job ();
  g_autoptr(GPtrArray) ta = make_tasks (a->id, 1);
  g_autoptr(GPtrArray) tb = make_tasks (b->id, 1);
  g_autoptr(GError) error = NULL;
  WeTask *task_a = g_ptr_array_index (ta, 0);
  WeTask *task_b = g_ptr_array_index (tb, 0);

  create_job (store, a, ta);
  create_job (store, b, tb);
  put_pipeline (store, a->id, task_a->id, 1, "transcode", "fakesrc ! fakesink", "digraph {}", T0);
  put_pipeline (store, b->id, task_b->id, 1, "transcode", "fakesrc ! fakesink", NULL, T0);
  put_task_log (store, a->id, task_a->id, 1, "file:///a.logs/x.log", 1, FALSE);
  put_task_log (store, b->id, task_b->id, 1, "file:///b.logs/x.log", 1, FALSE);

  g_assert_true (we_store_job_delete (store, a->id, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GPtrArray) pa = we_store_task_pipeline_list (store, a->id, NULL, &error);
    g_autoptr(GPtrArray) la = we_store_task_log_list (store, a->id, NULL, &error);
    g_autoptr(GPtrArray) pb = we_store_task_pipeline_list (store, b->id, NULL, &error);
    g_autoptr(GPtrArray) lb = we_store_task_log_list (store, b->id, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list_len (pa), ==, 0);
    g_assert_cmpuint (list_len (la), ==, 0);
    g_assert_cmpuint (list_len (pb), ==, 1);
    g_assert_cmpuint (list_len (lb), ==, 1);
  }
}

/* --- live streams --------------------------------------------------------------- */

static WeStream *
make_stream (const gchar *user_id, const gchar *tag, gint64 created_at)
{
  WeStream *s = we_stream_new ();

  s->id = we_uuid_new ();
  s->user_id = g_strdup (user_id);
  s->title = g_strdup_printf ("Stream %s", tag);
  s->key_hash = g_strdup_printf ("sha256:%s-%s", tag, s->id);
  s->key_sealed = g_strdup_printf ("v1:sealed-key-%s", tag);
  s->key_hint = g_strdup ("ab12");
  s->srt_passphrase_sealed = g_strdup_printf ("v1:sealed-pass-%s", tag);
  s->play_name = g_strdup_printf ("play-%s-%s", tag, s->id);
  s->latency_mode = g_strdup ("normal");
  s->created_at = created_at;
  return s;
}

static void
create_stream (WeStore *store, WeStream *stream)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (we_store_stream_create (store, stream, &error));
  g_assert_no_error (error);
}

static void
assert_stream_equal (const WeStream *a, const WeStream *b)
{
  g_assert_cmpstr (a->id, ==, b->id);
  g_assert_cmpstr (a->user_id, ==, b->user_id);
  g_assert_cmpstr (a->title, ==, b->title);
  g_assert_cmpstr (a->description, ==, b->description);
  g_assert_cmpstr (a->key_hash, ==, b->key_hash);
  g_assert_cmpstr (a->key_sealed, ==, b->key_sealed);
  g_assert_cmpstr (a->key_hint, ==, b->key_hint);
  g_assert_cmpstr (a->srt_passphrase_sealed, ==, b->srt_passphrase_sealed);
  g_assert_cmpstr (a->play_name, ==, b->play_name);
  g_assert_cmpint (a->is_live, ==, b->is_live);
  g_assert_cmpstr (a->current_session_id, ==, b->current_session_id);
  g_assert_cmpint (a->archive_enabled, ==, b->archive_enabled);
  g_assert_cmpint (a->record, ==, b->record);
  g_assert_cmpstr (a->latency_mode, ==, b->latency_mode);
  g_assert_cmpstr (a->ladder_profile_id, ==, b->ladder_profile_id);
  g_assert_cmpstr (a->archive_vod_job_id, ==, b->archive_vod_job_id);
  if (a->last_stats != NULL || b->last_stats != NULL) {
    g_autoptr(JsonObject) sa = json_parse_object (a->last_stats);
    g_autoptr(JsonObject) sb = json_parse_object (b->last_stats);
    assert_json_equal (sa, sb);
  }
  g_assert_cmpint (a->started_at, ==, b->started_at);
  g_assert_cmpint (a->ended_at, ==, b->ended_at);
  g_assert_cmpint (a->created_at, ==, b->created_at);
  g_assert_cmpint (a->updated_at, ==, b->updated_at);
}

static void
test_streams_roundtrip (WeStore *store)
{
  g_autoptr(WeStream) s = make_stream ("user-1", "a", T0);
  g_autoptr(WeStream) plain = make_stream ("user-1", "b", 0);
  g_autoptr(WeStream) got = NULL;
  g_autoptr(WeJob) job = make_full_job ();
  g_autoptr(GPtrArray) tasks = make_tasks (job->id, 1);
  g_autoptr(GError) error = NULL;

  create_job (store, job, tasks);
  s->description = g_strdup ("Tuesday's talk, \"live\" ✓");
  s->is_live = TRUE;
  s->current_session_id = g_strdup ("sess-1");
  s->archive_enabled = FALSE;
  s->record = TRUE;
  g_free (s->latency_mode);
  s->latency_mode = g_strdup ("low");
  s->ladder_profile_id = g_strdup ("720p_h264");
  s->archive_vod_job_id = g_strdup (job->id);
  s->last_stats = g_strdup ("{\"fps\":59.94,\"bitrate_kbps\":5200}");
  s->started_at = T0 + 10;
  s->ended_at = T0 + 5;
  create_stream (store, s);
  g_assert_cmpint (s->updated_at, ==, T0);

  got = we_store_stream_get (store, s->id, &error);
  g_assert_no_error (error);
  assert_stream_equal (got, s);
  g_clear_pointer (&got, we_stream_free);
  got = we_store_stream_get_by_key_hash (store, s->key_hash, &error);
  g_assert_no_error (error);
  assert_stream_equal (got, s);
  g_clear_pointer (&got, we_stream_free);

  /* defaults: now, never live, archive on */
  create_stream (store, plain);
  g_assert_cmpint (plain->created_at, >, T0);
  got = we_store_stream_get (store, plain->id, &error);
  g_assert_no_error (error);
  assert_stream_equal (got, plain);
  g_assert_false (got->is_live);
  g_assert_true (got->archive_enabled);
  g_assert_null (got->description);
  g_clear_pointer (&got, we_stream_free);

  /* deleting the archive job leaves the stream, unlinked */
  g_assert_true (we_store_job_delete (store, job->id, &error));
  g_assert_no_error (error);
  got = we_store_stream_get (store, s->id, &error);
  g_assert_no_error (error);
  g_assert_null (got->archive_vod_job_id);
  g_clear_pointer (&got, we_stream_free);

  g_assert_null (we_store_stream_get (store, "no-such-stream", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (we_store_stream_get_by_key_hash (store, "sha256:nobody", &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  /* the message never repeats a presented key's hash */
  g_assert_null (strstr (error->message, "nobody"));
}

static void
test_streams_rotate_and_conflicts (WeStore *store)
{
  g_autoptr(WeStream) a = make_stream ("user-1", "a", T0);
  g_autoptr(WeStream) b = make_stream ("user-1", "b", T0 + 1);
  g_autoptr(WeStream) clash = make_stream ("user-2", "c", T0 + 2);
  g_autoptr(WeStream) got = NULL;
  g_autofree gchar *old_hash = NULL;
  g_autoptr(GError) error = NULL;

  create_stream (store, a);
  create_stream (store, b);

  /* a rotation replaces the hash: the old one finds nothing */
  old_hash = g_strdup (a->key_hash);
  g_free (a->key_hash);
  a->key_hash = g_strdup ("sha256:rotated");
  g_free (a->key_sealed);
  a->key_sealed = g_strdup ("v1:sealed-rotated");
  g_free (a->key_hint);
  a->key_hint = g_strdup ("zz99");
  g_assert_true (we_store_stream_update (store, a, &error));
  g_assert_no_error (error);
  g_assert_cmpint (a->updated_at, >, T0);
  g_assert_null (we_store_stream_get_by_key_hash (store, old_hash, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);
  got = we_store_stream_get_by_key_hash (store, "sha256:rotated", &error);
  g_assert_no_error (error);
  assert_stream_equal (got, a);
  g_clear_pointer (&got, we_stream_free);

  /* a taken key hash or play name, on create or update */
  g_free (clash->key_hash);
  clash->key_hash = g_strdup (b->key_hash);
  g_assert_false (we_store_stream_create (store, clash, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT);
  g_clear_error (&error);
  g_free (clash->key_hash);
  clash->key_hash = g_strdup ("sha256:fresh");
  g_free (clash->play_name);
  clash->play_name = g_strdup (b->play_name);
  g_assert_false (we_store_stream_create (store, clash, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT);
  g_clear_error (&error);
  g_free (a->key_hash);
  a->key_hash = g_strdup (b->key_hash);
  g_assert_false (we_store_stream_update (store, a, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_KEY_CONFLICT);
  g_clear_error (&error);
  got = we_store_stream_get (store, a->id, &error);
  g_assert_cmpstr (got->key_hash, ==, "sha256:rotated");

  g_free (clash->id);
  clash->id = g_strdup ("no-such-stream");
  g_free (clash->play_name);
  clash->play_name = g_strdup ("unused");
  g_assert_false (we_store_stream_update (store, clash, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
}

static GPtrArray *
list_streams (WeStore *store, const gchar *user, gint live, guint limit, guint offset,
              guint *total)
{
  WeStreamFilter filter = { .user_id = user, .live = live, .limit = limit, .offset = offset };
  g_autoptr(GError) error = NULL;
  GPtrArray *got = we_store_stream_list (store, &filter, total, &error);

  g_assert_no_error (error);
  g_assert_nonnull (got);
  return got;
}

static void
test_streams_list (WeStore *store)
{
  WeStream *made[5];
  guint total = 0;

  for (guint i = 0; i < G_N_ELEMENTS (made); i++) {
    g_autofree gchar *tag = g_strdup_printf ("s%u", i);

    made[i] = make_stream (i < 3 ? "user-1" : "user-2", tag, T0 + i);
    made[i]->is_live = i % 2 == 0;
    create_stream (store, made[i]);
  }
  {
    g_autoptr(GPtrArray) all = list_streams (store, NULL, -1, 0, 0, &total);

    g_assert_cmpuint (total, ==, 5);
    g_assert_cmpuint (all->len, ==, 5);
    /* newest first */
    g_assert_cmpstr (((WeStream *) all->pdata[0])->id, ==, made[4]->id);
    g_assert_cmpstr (((WeStream *) all->pdata[4])->id, ==, made[0]->id);
  }
  {
    g_autoptr(GPtrArray) live = list_streams (store, NULL, 1, 0, 0, &total);

    g_assert_cmpuint (total, ==, 3);
    for (guint i = 0; i < live->len; i++)
      g_assert_true (((WeStream *) live->pdata[i])->is_live);
  }
  {
    g_autoptr(GPtrArray) off = list_streams (store, NULL, 0, 0, 0, &total);

    g_assert_cmpuint (total, ==, 2);
    g_assert_cmpstr (((WeStream *) off->pdata[0])->id, ==, made[3]->id);
  }
  {
    g_autoptr(GPtrArray) mine = list_streams (store, "user-2", -1, 0, 0, &total);

    g_assert_cmpuint (total, ==, 2);
    g_assert_cmpuint (mine->len, ==, 2);
  }
  {
    g_autoptr(GPtrArray) page = list_streams (store, NULL, -1, 2, 2, &total);

    g_assert_cmpuint (total, ==, 5);
    g_assert_cmpuint (page->len, ==, 2);
    g_assert_cmpstr (((WeStream *) page->pdata[0])->id, ==, made[2]->id);
    g_assert_cmpstr (((WeStream *) page->pdata[1])->id, ==, made[1]->id);
  }
  for (guint i = 0; i < G_N_ELEMENTS (made); i++)
    we_stream_free (made[i]);
}

static void
test_streams_sessions_delete (WeStore *store)
{
  g_autoptr(WeStream) a = make_stream ("user-1", "a", T0);
  g_autoptr(WeStream) b = make_stream ("user-1", "b", T0 + 1);
  g_autoptr(WeStreamSession) s1 = we_stream_session_new ();
  g_autoptr(WeStreamSession) s2 = NULL;
  g_autoptr(WeStreamSession) other = NULL;
  g_autoptr(GError) error = NULL;

  create_stream (store, a);
  create_stream (store, b);
  s1->id = g_strdup ("sess-1");
  s1->stream_id = g_strdup (a->id);
  s1->protocol = g_strdup ("rtmp");
  s1->remote_addr = g_strdup ("192.0.2.7:50123");
  s1->started_at = T0 + 100;
  g_assert_true (we_store_stream_session_put (store, s1, &error));
  g_assert_no_error (error);
  /* the end of the publish replaces the row */
  s1->ended_at = T0 + 200;
  s1->end_reason = g_strdup ("publisher-closed");
  s1->bytes_in = G_GINT64_CONSTANT (5000000000);
  g_assert_true (we_store_stream_session_put (store, s1, &error));
  g_assert_no_error (error);
  s2 = we_stream_session_copy (s1);
  g_free (s2->id);
  s2->id = g_strdup ("sess-2");
  g_free (s2->protocol);
  s2->protocol = g_strdup ("srt");
  s2->started_at = T0 + 300;
  s2->ended_at = 0;
  g_clear_pointer (&s2->end_reason, g_free);
  g_clear_pointer (&s2->remote_addr, g_free);
  s2->bytes_in = 0;
  g_assert_true (we_store_stream_session_put (store, s2, &error));
  g_assert_no_error (error);
  other = we_stream_session_copy (s1);
  g_free (other->id);
  other->id = g_strdup ("sess-b");
  g_free (other->stream_id);
  other->stream_id = g_strdup (b->id);
  g_assert_true (we_store_stream_session_put (store, other, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GPtrArray) got = we_store_stream_session_list (store, a->id, 0, &error);
    WeStreamSession *g;

    g_assert_no_error (error);
    g_assert_cmpuint (got->len, ==, 2);
    g = got->pdata[0];
    g_assert_cmpstr (g->id, ==, "sess-2");
    g_assert_cmpstr (g->protocol, ==, "srt");
    g_assert_null (g->remote_addr);
    g_assert_cmpint (g->ended_at, ==, 0);
    g = got->pdata[1];
    g_assert_cmpstr (g->id, ==, "sess-1");
    g_assert_cmpstr (g->stream_id, ==, a->id);
    g_assert_cmpstr (g->remote_addr, ==, "192.0.2.7:50123");
    g_assert_cmpint (g->started_at, ==, T0 + 100);
    g_assert_cmpint (g->ended_at, ==, T0 + 200);
    g_assert_cmpstr (g->end_reason, ==, "publisher-closed");
    g_assert_cmpint (g->bytes_in, ==, G_GINT64_CONSTANT (5000000000));
  }
  {
    g_autoptr(GPtrArray) one = we_store_stream_session_list (store, a->id, 1, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (one->len, ==, 1);
  }
  g_free (other->stream_id);
  other->stream_id = g_strdup ("no-such-stream");
  g_free (other->id);
  other->id = g_strdup ("sess-x");
  g_assert_false (we_store_stream_session_put (store, other, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);

  /* deleting a stream takes its sessions, and only its */
  g_assert_true (we_store_stream_delete (store, a->id, &error));
  g_assert_no_error (error);
  g_assert_null (we_store_stream_get (store, a->id, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
  g_clear_error (&error);
  {
    g_autoptr(GPtrArray) gone = we_store_stream_session_list (store, a->id, 0, &error);
    g_autoptr(GPtrArray) kept = we_store_stream_session_list (store, b->id, 0, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (gone->len, ==, 0);
    g_assert_cmpuint (kept->len, ==, 1);
  }
  g_assert_false (we_store_stream_delete (store, a->id, &error));
  g_assert_error (error, WE_ERROR, WE_ERROR_STR_NOT_FOUND);
}

void
we_store_test_suite_add (const gchar *prefix, WeStore *(*factory) (GError **error))
{
  static const struct {
    const gchar  *name;
    StoreTestFunc func;
  } cases[] = {
    { "job/roundtrip", test_job_roundtrip },
    { "job/defaults", test_job_defaults },
    { "job/create-atomic", test_job_create_atomic },
    { "job/update", test_job_update },
    { "job/list-filters", test_job_list_filters },
    { "job/list-limits", test_job_list_limits },
    { "job/priority", test_job_priority },
    { "job/not-found", test_job_not_found },
    { "job/delete-cascades", test_job_delete_cascades },
    { "task/order-and-update", test_task_order_and_update },
    { "output/replace", test_outputs },
    { "event/append-order", test_events },
    { "profile/put-get-list-delete", test_profiles },
    { "worker/put-list-delete", test_workers },
    { "plugin-config/put-list", test_plugin_configs },
    { "migration/schema-version", test_schema_version },
    { "restream/claim", test_restream_claim },
    { "kernel/ownership", test_kernel_ownership },
    { "publication/claim", test_publication_claim },
    { "job/cancel-is-final", test_job_cancel_is_final },
    { "job/idempotency-key", test_job_idempotency_key },
    { "async/roundtrip", test_async_roundtrip },
    { "async/ordering", test_async_ordering },
    { "async/profile-writes", test_async_profile_writes },
    { "async/threads", test_async_threads },
    { "async/flush-and-cancel", test_async_flush_and_cancel },
    { "audit/roundtrip", test_audit_roundtrip },
    { "audit/filters", test_audit_filters },
    { "audit/default-limit", test_audit_default_limit },
    { "token/put-get-list", test_tokens },
    { "webhook/put-get-list-delete", test_webhooks },
    { "delivery/state-strings", test_delivery_state_strings },
    { "delivery/add-update-list", test_deliveries },
    { "delivery/claim", test_delivery_claim },
    { "delivery/claim-threads", test_delivery_claim_threads },
    { "security/call-async", test_security_call_async },
    { "task-debug/pipelines", test_task_pipelines },
    { "task-debug/logs", test_task_logs },
    { "task-debug/job-delete-cascades", test_task_debug_cascade },
    { "error-events/roundtrip", test_error_events_roundtrip },
    { "error-events/filters-paging-resolve", test_error_events_filters },
    { "streams/roundtrip", test_streams_roundtrip },
    { "streams/rotate-and-conflicts", test_streams_rotate_and_conflicts },
    { "streams/list", test_streams_list },
    { "streams/sessions-and-delete", test_streams_sessions_delete },
  };

  g_return_if_fail (prefix != NULL && factory != NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    add_case (prefix, cases[i].name, factory, cases[i].func);
}
