-- The roles and database of the troupe store in the docker-compose stack. The
-- postgres image runs this file once, as the superuser, when it creates an
-- empty data volume (docker-entrypoint-initdb.d); it is not run again on an
-- existing volume (see deploy/README.md for the upgrade of an older one).
--
--   troupe            owns database troupe and the schema: `troupe migrate up`
--                     connects as it. Neither superuser nor CREATEROLE.
--   troupe_app        NOLOGIN group role; migration 00005 grants it what the
--                     application needs (audit_logs: SELECT and INSERT only).
--                     Created here because troupe may not create roles.
--   troupe_app_login  what `troupe serve` and `troupe worker` connect as: a
--                     member of troupe_app, owning nothing.
--
-- Postgres is not published outside the compose network; change the
-- passwords (here and in docker-compose.yml) before exposing it.
CREATE ROLE troupe LOGIN PASSWORD 'troupe';
CREATE DATABASE troupe OWNER troupe;
CREATE ROLE troupe_app NOLOGIN;
CREATE ROLE troupe_app_login LOGIN PASSWORD 'troupe_app_login' IN ROLE troupe_app;
