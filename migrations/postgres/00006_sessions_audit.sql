-- +goose Up
-- The audit trail also records what reads payers' data (a CSV export, a user looked up by openid)
-- and the ends of sign-in: a sign-out, a refused sign-in. A row keeps mospay's own request id and,
-- apart from it, the X-Request-Id the client sent (which the client chooses).
ALTER TABLE admin_actions DROP CONSTRAINT admin_actions_action_check;
ALTER TABLE admin_actions ADD CONSTRAINT admin_actions_action_check
    CHECK (action IN ('reconcile', 'revoke', 'resolve', 'close', 'redeliver', 'login', 'login_failed', 'logout', 'export', 'lookup'));
ALTER TABLE admin_actions ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX admin_actions_action ON admin_actions (action, id);

-- Finance's sessions live here, so that signing out ends a session everywhere (a copied cookie
-- with it) and a removed admin token's sessions stay ended if the token comes back. The cookie
-- carries the session's secret; a row is keyed by its SHA-256, so that the table signs no one in.
-- token_fingerprint names the admin token signed in with (an HMAC of it, never the token).
CREATE TABLE finance_sessions (
    id                 TEXT PRIMARY KEY CHECK (length(id) = 64),
    admin              TEXT NOT NULL,
    token_fingerprint  TEXT NOT NULL,
    remote_ip          TEXT NOT NULL DEFAULT '',
    user_agent         TEXT NOT NULL DEFAULT '',
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    ended_at           TIMESTAMPTZ,
    ended_by           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX finance_sessions_open ON finance_sessions (admin, created_at) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE finance_sessions;
DROP INDEX admin_actions_action;
ALTER TABLE admin_actions DROP COLUMN client_request_id;
DELETE FROM admin_actions WHERE action NOT IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login');
ALTER TABLE admin_actions DROP CONSTRAINT admin_actions_action_check;
ALTER TABLE admin_actions ADD CONSTRAINT admin_actions_action_check
    CHECK (action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login'));
