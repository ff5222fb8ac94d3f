-- Run by postgres:16's entrypoint in POSTGRES_DB (the lab database) on the first start of an empty volume.
-- slowq's lab_postgres pipeline reads pg_stat_statements in this database, and its analyze stage proves index
-- suggestions with HypoPG here (both need the extension in the database slowq connects to).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
