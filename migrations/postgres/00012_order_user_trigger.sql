-- +goose Up
-- An order's user_id names a real user, and a user cannot disappear: kept by triggers from now on
-- instead of the foreign key orders_user_id_fkey. The key made PostgreSQL lock the user's row
-- (FOR KEY SHARE) for every order inserted; concurrent orders of one user (a merchant's backend
-- whose orders share a few users, a load test's clients) then pile those locks up on a few rows
-- as multixacts, and order creation ran 35% slower than without the key.
--
-- Orders: an insert, or a change of user_id, naming no user is refused with the key's SQLSTATE
-- (23503, foreign_key_violation). The user is read without a lock; that is enough because of
-- the rule below: a user once committed stays, so one the check saw cannot be gone by the time
-- the order commits. NULL stays allowed (orders with no user, as before).
--
-- Users: mospay never deletes a user or changes a user's id (a login inserts or updates the
-- language and last login, a revocation sets tokens_revoked_at), so every DELETE, every change of
-- id and TRUNCATE is refused, whether or not orders name the user. Refusing only users that have
-- orders would have to read orders, and without a lock it would not see an order being inserted
-- concurrently (nor that insert the deletion): both would commit and leave an order whose user is
-- gone. An unconditional refusal reads nothing, so there is nothing to race with.
-- +goose StatementBegin
CREATE FUNCTION orders_user_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) THEN
        RAISE EXCEPTION 'insert or update on table "orders" names no user in user_id (orders_user_exists)'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (user_id)=(%s) is not present in table "users".', NEW.user_id),
                  TABLE = 'orders', COLUMN = 'user_id', CONSTRAINT = 'orders_user_exists';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION users_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'users are never deleted: orders name them (users_kept)'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'users', CONSTRAINT = 'users_kept';
    END IF;
    RAISE EXCEPTION 'users are never deleted and their ids never change: orders name them (users_kept)'
        USING ERRCODE = 'foreign_key_violation', DETAIL = format('%s of user %s.', TG_OP, OLD.id),
              TABLE = 'users', CONSTRAINT = 'users_kept';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER orders_user_exists BEFORE INSERT ON orders
    FOR EACH ROW WHEN (NEW.user_id IS NOT NULL) EXECUTE FUNCTION orders_user_exists();
CREATE TRIGGER orders_user_changed BEFORE UPDATE OF user_id ON orders
    FOR EACH ROW WHEN (NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM OLD.user_id) EXECUTE FUNCTION orders_user_exists();
CREATE TRIGGER users_kept BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_kept();
CREATE TRIGGER users_id_kept BEFORE UPDATE OF id ON users
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION users_kept();
CREATE TRIGGER users_kept_truncate BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_kept();
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;

-- +goose Down
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
DROP TRIGGER users_kept_truncate ON users;
DROP TRIGGER users_id_kept ON users;
DROP TRIGGER users_kept ON users;
DROP TRIGGER orders_user_changed ON orders;
DROP TRIGGER orders_user_exists ON orders;
DROP FUNCTION users_kept();
DROP FUNCTION orders_user_exists();
