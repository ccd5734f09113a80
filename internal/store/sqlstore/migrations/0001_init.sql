-- Portable between SQLite and PostgreSQL: BIGINT timestamps (Unix
-- milliseconds), INTEGER booleans, TEXT everywhere else.
CREATE TABLE associations (
    association_id       TEXT    NOT NULL PRIMARY KEY,
    cluster              TEXT    NOT NULL,
    namespace            TEXT    NOT NULL,
    service_account      TEXT    NOT NULL,
    role_arn             TEXT    NOT NULL,
    target_role_arn      TEXT    NOT NULL DEFAULT '',
    external_id          TEXT    NOT NULL DEFAULT '',
    disable_session_tags INTEGER NOT NULL DEFAULT 0,
    policy               TEXT    NOT NULL DEFAULT '',
    owner_arn            TEXT    NOT NULL DEFAULT '',
    created_at           BIGINT  NOT NULL,
    modified_at          BIGINT  NOT NULL,
    CONSTRAINT associations_service_account_unique UNIQUE (cluster, namespace, service_account)
);

-- Tags are keyed by resource: an association id, or cluster/NAME. ARNs
-- are derived from the server's region and account, so they are not stored.
CREATE TABLE tags (
    resource     TEXT NOT NULL,
    tag_key      TEXT NOT NULL,
    tag_value    TEXT NOT NULL,
    PRIMARY KEY (resource, tag_key)
);

CREATE TABLE idempotency_tokens (
    scope          TEXT   NOT NULL,
    token          TEXT   NOT NULL,
    request_hash   TEXT   NOT NULL,
    association_id TEXT   NOT NULL REFERENCES associations (association_id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (scope, token)
);
CREATE INDEX idempotency_tokens_association ON idempotency_tokens (association_id);

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
