/**
 * The schema, as an append-only list of migrations applied in order by `PRAGMA user_version`.
 * Never edit a migration that has shipped; add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  /* 1: jobs, stages, gates, votes, artifacts, events, outbox */ `
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    brief TEXT NOT NULL,
    params TEXT NOT NULL,
    submitter TEXT NOT NULL,
    origin TEXT NOT NULL,
    targets TEXT NOT NULL,
    def TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT,
    resume_from TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    version INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX jobs_by_state ON jobs (state, id);
  CREATE INDEX jobs_by_submitter ON jobs (submitter, created_at);

  CREATE TABLE stages (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    run INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    retry_at INTEGER,
    error TEXT,
    summary TEXT,
    outputs TEXT,
    redo_reason TEXT,
    PRIMARY KEY (job_id, stage)
  ) WITHOUT ROWID;
  CREATE INDEX stages_due ON stages (retry_at) WHERE retry_at IS NOT NULL;
  CREATE INDEX stages_running ON stages (state) WHERE state = 'running';

  CREATE TABLE gates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    round INTEGER NOT NULL,
    state TEXT NOT NULL,
    required INTEGER NOT NULL,
    min_approvals INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    deadline_at INTEGER,
    deadline_kind TEXT,
    remind_at INTEGER,
    decided_at INTEGER,
    decided_by TEXT,
    reason TEXT,
    UNIQUE (job_id, stage, round)
  );
  CREATE INDEX gates_deadline ON gates (deadline_at) WHERE deadline_at IS NOT NULL;
  CREATE INDEX gates_remind ON gates (remind_at) WHERE remind_at IS NOT NULL;

  CREATE TABLE votes (
    gate_id INTEGER NOT NULL REFERENCES gates (id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    display TEXT NOT NULL,
    vote TEXT NOT NULL,
    reason TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (gate_id, actor)
  );

  CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    run INTEGER NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX artifacts_by_job ON artifacts (job_id, stage, run);

  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (job_id, seq)
  );

  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    delivered_at INTEGER,
    last_error TEXT
  );
  CREATE INDEX outbox_pending ON outbox (target, job_id, id) WHERE delivered_at IS NULL;

  CREATE TABLE chat_refs (
    target TEXT NOT NULL,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id TEXT,
    PRIMARY KEY (target, job_id, key)
  ) WITHOUT ROWID;

  CREATE TABLE dedupe (
    key TEXT PRIMARY KEY,
    at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  /* 2: prune old replay claims without scanning them all */ `
  CREATE INDEX dedupe_by_time ON dedupe (at);
  `,
  /* 3: the interaction inbox: a claim may carry the payload that is still to be carried out */ `
  ALTER TABLE dedupe ADD COLUMN payload TEXT;
  CREATE INDEX dedupe_pending ON dedupe (at) WHERE payload IS NOT NULL;
  `,
  /* 4: what changed between two reviewed rounds of a stage, computed once when the later gate opens */ `
  CREATE TABLE round_diffs (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    round INTEGER NOT NULL,
    run INTEGER NOT NULL,
    previous_run INTEGER NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, stage, round)
  ) WITHOUT ROWID;
  `,
  /* 5: escalation of a gate (due like the deadline, and when it happened); open gates by age for "what waits for me" */ `
  ALTER TABLE gates ADD COLUMN escalate_at INTEGER;
  ALTER TABLE gates ADD COLUMN escalated_at INTEGER;
  CREATE INDEX gates_escalate ON gates (escalate_at) WHERE escalate_at IS NOT NULL;
  CREATE INDEX gates_open ON gates (opened_at) WHERE state IN ('pending', 'held');
  `,
  /* 6: runs that wait for an external system, and their capability tokens (sha256 only) */ `
  CREATE TABLE external_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    run INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    waiting_since INTEGER,
    last_heartbeat_at INTEGER,
    heartbeat_ms INTEGER,
    heartbeat_deadline INTEGER,
    timeout_deadline INTEGER,
    notify_state TEXT NOT NULL DEFAULT 'none',
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    report_hash TEXT,
    ended_at INTEGER,
    UNIQUE (job_id, stage, run)
  );
  CREATE INDEX external_runs_waiting ON external_runs (job_id) WHERE state = 'waiting';
  CREATE TABLE external_tokens (
    hash TEXT PRIMARY KEY,
    external_run_id INTEGER NOT NULL REFERENCES external_runs (id) ON DELETE CASCADE
  ) WITHOUT ROWID;
  `,
  /* 7: artifact contents (PostgreSQL only) */ '',
  /* 8: the cluster's leases (PostgreSQL only) */ '',
  /* 9: an inbox row is held by one replica under a lease (the wake-up trigger is PostgreSQL only) */ `
  ALTER TABLE dedupe ADD COLUMN owner TEXT;
  ALTER TABLE dedupe ADD COLUMN lease_until INTEGER;
  `,
  /* 10: stage leases (PostgreSQL only) */ '',
];
