import type { PlanMethod } from "../../../plugins/explain/Outcome.js"
import type { Dialect } from "../../../src/domain/SlowQueryEvent.js"

/**
 * Hostile statements for the canary test. Each names what the stage must make of it: a plan (and how), a
 * refusal by policy (`skipped`, by reason category), a refusal by the server (`failed`, by category), or — where
 * the optimizer decides whether it runs a function while planning — a plan or that failure.
 * Categories are the part of the reason before the first ':'.
 */
export type Expected =
  | { readonly plan: PlanMethod }
  | { readonly skipped: string }
  | { readonly failed: string }
  | { readonly planOr: string }

export interface CanaryCase {
  readonly text: string
  readonly expected: Expected
  /** The fingerprint says the text was cut off. */
  readonly truncated?: boolean
}

const plan = (method: PlanMethod = "direct"): Expected => ({ plan: method })
const skipped = (category: string): Expected => ({ skipped: category })
const failed = (category: string): Expected => ({ failed: category })
const planOr = (category: string): Expected => ({ planOr: category })
const per = (dialect: Dialect, mysql: Expected, postgres: Expected) => (dialect === "mysql" ? mysql : postgres)

/** Setup of the canary database on MariaDB (run by the mariadb CLI; `LOCK_NAME` is replaced per database). */
export const mariadbSetup = `
CREATE TABLE canary (id INT PRIMARY KEY, v VARCHAR(32), KEY v (v));
INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(64));
CREATE SEQUENCE seq;
DELIMITER //
CREATE FUNCTION f_det(x INT) RETURNS INT DETERMINISTIC MODIFIES SQL DATA
BEGIN INSERT INTO audit (what) VALUES ('f_det'); RETURN x; END//
CREATE FUNCTION f_nondet(x INT) RETURNS INT NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN INSERT INTO audit (what) VALUES ('f_nondet'); RETURN x; END//
CREATE FUNCTION f_wipe() RETURNS INT DETERMINISTIC BEGIN DELETE FROM canary; RETURN 1; END//
CREATE FUNCTION f_update() RETURNS INT DETERMINISTIC BEGIN UPDATE canary SET v = 'pwned'; RETURN 1; END//
CREATE FUNCTION f_seq() RETURNS INT DETERMINISTIC BEGIN RETURN NEXTVAL(seq); END//
CREATE FUNCTION f_lock() RETURNS INT DETERMINISTIC BEGIN RETURN GET_LOCK('LOCK_NAME', 0); END//
DELIMITER ;
`

/**
 * Setup of the canary database on PostgreSQL (trusted text, simple protocol). PL/pgSQL refuses writes in a
 * function declared IMMUTABLE or STABLE itself, so each such function calls a VOLATILE writer: the shape that
 * really does write during a plain EXPLAIN (see LAB.md).
 */
export const postgresSetup = `
CREATE TABLE canary (id int PRIMARY KEY, v text);
CREATE INDEX canary_v ON canary (v);
INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
CREATE TABLE audit (id serial PRIMARY KEY, what text);
CREATE SEQUENCE seq;
CREATE FUNCTION w_audit(x int, what text) RETURNS int LANGUAGE plpgsql VOLATILE AS
  $$ BEGIN INSERT INTO audit (what) VALUES (what); RETURN x; END $$;
CREATE FUNCTION w_wipe() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN DELETE FROM canary; RETURN 1; END $$;
CREATE FUNCTION w_seq() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN nextval('seq'); END $$;
CREATE FUNCTION w_drop() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN EXECUTE 'DROP TABLE canary'; RETURN 1; END $$;
CREATE FUNCTION f_imm(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN w_audit(x, 'f_imm'); END $$;
CREATE FUNCTION f_stable(x int) RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN w_audit(x, 'f_stable'); END $$;
CREATE FUNCTION f_vol(x int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN w_audit(x, 'f_vol'); END $$;
CREATE FUNCTION f_wipe() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN w_wipe(); END $$;
CREATE FUNCTION f_seq() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN w_seq(); END $$;
CREATE FUNCTION f_lock() RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END $$;
CREATE FUNCTION f_drop() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN w_drop(); END $$;
`

const mysqlFunctions = ["f_det(1)", "f_nondet(1)", "f_wipe()", "f_update()", "f_seq()", "f_lock()"]
const postgresFunctions = ["f_imm(1)", "f_stable(1)", "f_vol(1)", "f_wipe()", "f_seq()", "f_lock()", "f_drop()"]

/** A function with side effects in every place where a planner might run it. */
const functionCases = (dialect: Dialect): ReadonlyArray<CanaryCase> => {
  const functions = dialect === "mysql" ? mysqlFunctions : postgresFunctions
  return functions.flatMap((f): ReadonlyArray<CanaryCase> => {
    // MariaDB runs a stored function in every one of these places while planning; the read-only transaction is
    // what stops each write. GET_LOCK is no write: it runs, and the lock is released after the ROLLBACK.
    // PostgreSQL runs a function only where it folds constants or estimates selectivity, so either may happen.
    const blocked =
      dialect === "postgres" ? planOr("write blocked") : f === "f_lock()" ? plan() : failed("write blocked")
    const rewrittenBlocked = dialect === "mysql" && f === "f_lock()" ? plan("rewritten") : blocked
    return [
    { text: `SELECT ${f}`, expected: blocked },
    { text: `SELECT * FROM canary WHERE id = ${f}`, expected: blocked },
    { text: `SELECT * FROM canary WHERE id = (SELECT ${f})`, expected: blocked },
    { text: `SELECT * FROM canary WHERE id IN (SELECT ${f})`, expected: blocked },
    { text: `SELECT * FROM (SELECT ${f} AS x) d`, expected: blocked },
    { text: `WITH c AS (SELECT ${f} AS x) SELECT * FROM c`, expected: blocked },
    { text: `SELECT * FROM canary WHERE id BETWEEN ${f} AND ${f} + 1`, expected: blocked },
    { text: `SELECT * FROM canary ORDER BY ${f}`, expected: blocked },
    { text: `SELECT v, COUNT(*) FROM canary GROUP BY v HAVING COUNT(*) > ${f}`, expected: blocked },
    { text: `SELECT * FROM canary a JOIN canary b ON a.id = b.id AND b.id = ${f}`, expected: blocked },
    { text: `SELECT * FROM canary WHERE EXISTS (SELECT ${f})`, expected: blocked },
    { text: `SELECT 1 UNION SELECT ${f}`, expected: blocked },
    { text: `SELECT CASE WHEN ${f} = 1 THEN 1 END`, expected: blocked },
    { text: `SELECT * FROM canary WHERE id = ${f} LIMIT 1`, expected: blocked },
    { text: `UPDATE canary SET v = 'x' WHERE id = ${f}`, expected: rewrittenBlocked },
    { text: `DELETE FROM canary WHERE id = ${f}`, expected: rewrittenBlocked },
    { text: `INSERT INTO audit (what) SELECT ${f}`, expected: rewrittenBlocked },
    ...(dialect === "postgres"
      ? [
          { text: `WITH c AS MATERIALIZED (SELECT ${f} AS x) SELECT * FROM c`, expected: blocked },
          { text: `SELECT * FROM canary WHERE id = ${f} AND v = $1`, expected: blocked }
        ]
      : [])
    ]
  })
}

const B = "SELECT * FROM canary WHERE id = 1"

/** `; DROP TABLE canary` in every position, inside comments and quotes. */
const injectionCases = (dialect: Dialect): ReadonlyArray<CanaryCase> => {
  const multi = skipped("multi-statement")
  const ok = plan()
  return [
    { text: `${B}; DROP TABLE canary`, expected: multi },
    { text: `${B};DROP TABLE canary;`, expected: multi },
    { text: `DROP TABLE canary; ${B}`, expected: multi },
    { text: `${B}; DROP TABLE canary; ${B}`, expected: multi },
    { text: `${B}\n;\nDROP TABLE canary`, expected: multi },
    { text: `${B};\tDROP TABLE canary`, expected: multi },
    { text: `${B};\r\nDROP TABLE canary`, expected: multi },
    { text: `;${B}`, expected: multi },
    { text: `${B}; drop table canary`, expected: multi },
    { text: `${B} UNION SELECT 1, 'x'; DROP TABLE canary`, expected: multi },
    { text: `${B}; DELETE FROM canary`, expected: multi },
    { text: `${B}; UPDATE canary SET v = 'pwned'`, expected: multi },
    { text: `${B}; INSERT INTO audit (what) VALUES ('injected')`, expected: multi },
    { text: `SELECT 1 AS "a;b"; DROP TABLE canary`, expected: multi },
    { text: `${B} \\; DROP TABLE canary`, expected: multi },
    { text: `${B}\u0000; DROP TABLE canary`, expected: multi },
    { text: `${B} */ ; DROP TABLE canary`, expected: multi },
    { text: `${B} -- \n; DROP TABLE canary`, expected: multi },
    { text: `SELECT U&'\\0041'; DROP TABLE canary`, expected: multi },
    { text: `${B} /* ; DROP TABLE canary */`, expected: ok },
    { text: `/* ; DROP TABLE canary; */ ${B} /* ; */`, expected: ok },
    { text: `${B} -- ; DROP TABLE canary`, expected: ok },
    { text: `${B}; -- DROP TABLE canary`, expected: ok },
    { text: `${B};;;`, expected: ok },
    { text: `${B}; /* DROP TABLE canary */ ;`, expected: ok },
    { text: `SELECT '; DROP TABLE canary' FROM canary`, expected: ok },
    { text: `SELECT * FROM canary WHERE v = '; DROP TABLE canary; --'`, expected: ok },
    { text: `${B} /* unterminated ; DROP TABLE canary`, expected: skipped("unterminated") },
    { text: `SELECT * FROM canary WHERE v = 'abc; DROP TABLE canary`, expected: skipped("unterminated") },
    { text: `SELECT * FROM canary WHERE id IN (1, 2; DROP TABLE canary`, expected: skipped("unbalanced") },
    // Dialects part ways from here: each lexer must agree with its server.
    { text: `${B} # ; DROP TABLE canary`, expected: per(dialect, ok, multi) },
    { text: `SELECT "; DROP TABLE canary" FROM canary`, expected: per(dialect, ok, failed("error 42703")) },
    { text: "SELECT 1 AS `; DROP TABLE canary`", expected: per(dialect, ok, multi) },
    { text: `${B} /* /* */ ; DROP TABLE canary */`, expected: per(dialect, multi, ok) },
    { text: `SELECT 'a\\'; DROP TABLE canary; -- '`, expected: per(dialect, ok, multi) },
    { text: `SELECT E'a\\'; DROP TABLE canary; -- '`, expected: per(dialect, failed("error 1054"), ok) },
    // PostgreSQL: '\'' is a backslash and an escaped quote, so the DROP is inside the string.
    { text: `SELECT * FROM canary WHERE v = '\\''; DROP TABLE canary; -- '`, expected: per(dialect, multi, ok) },
    { text: `SELECT $$; DROP TABLE canary$$`, expected: per(dialect, multi, ok) },
    { text: `SELECT $tag$ $$; DROP TABLE canary; $tag$`, expected: per(dialect, multi, ok) },
    { text: `${B} /*!; DROP TABLE canary */`, expected: per(dialect, multi, ok) },
    { text: `${B} /*!50000 ; DROP TABLE canary */`, expected: per(dialect, multi, ok) },
    { text: `${B} /*M!100000 ; DROP TABLE canary */`, expected: per(dialect, multi, ok) },
    { text: `${B} /*!99999 ; DROP TABLE canary */`, expected: per(dialect, multi, ok) },
    { text: `${B} --; DROP TABLE canary`, expected: per(dialect, multi, ok) },
    { text: `${B} /*! -- */ ; DROP TABLE canary\n */`, expected: per(dialect, skipped("unterminated"), multi) }
  ]
}

const analyzeCases = (): ReadonlyArray<CanaryCase> => {
  const analyze = skipped("analyze")
  return [
    { text: "ANALYZE SELECT * FROM canary", expected: analyze },
    { text: "analyze select * from canary", expected: analyze },
    { text: "ANALYSE SELECT * FROM canary", expected: analyze },
    { text: "ANALYZE DELETE FROM canary", expected: analyze },
    { text: "ANALYZE FORMAT=JSON DELETE FROM canary", expected: analyze },
    { text: "EXPLAIN ANALYZE SELECT * FROM canary", expected: analyze },
    { text: "EXPLAIN ANALYZE DELETE FROM canary", expected: analyze },
    { text: "EXPLAIN (ANALYZE) DELETE FROM canary", expected: analyze },
    { text: "EXPLAIN (ANALYZE TRUE, FORMAT JSON) DELETE FROM canary", expected: analyze },
    { text: "EXPLAIN (ANALYSE) UPDATE canary SET v = 'x'", expected: analyze },
    { text: "EXPLAIN (FORMAT JSON, ANALYZE on) DELETE FROM canary", expected: analyze },
    { text: "/* x */ AnAlYzE DELETE FROM canary", expected: analyze },
    { text: "ANALYZE TABLE canary", expected: analyze },
    { text: "ANALYZE canary", expected: analyze },
    { text: "SELECT * FROM canary analyze", expected: analyze },
    { text: "EXPLAIN SELECT * FROM canary", expected: skipped("not explainable") },
    { text: "EXPLAIN DELETE FROM canary", expected: skipped("not explainable") },
    { text: "EXPLAIN FORMAT=JSON DELETE FROM canary", expected: skipped("not explainable") },
    { text: "DESCRIBE DELETE FROM canary", expected: skipped("not explainable") }
  ]
}

const dmlCases = (dialect: Dialect): ReadonlyArray<CanaryCase> => [
  { text: "DELETE FROM canary", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "UPDATE canary SET v = 'pwned'", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "UPDATE canary SET v = (SELECT 'x') WHERE id = 1", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "DELETE FROM canary WHERE id IN (SELECT id FROM audit)", expected: per(dialect, plan("rewritten"), plan()) },
  {
    text: "INSERT INTO audit (what) VALUES ('x')",
    expected: per(dialect, skipped("not explainable"), plan())
  },
  { text: "INSERT INTO audit (what) SELECT v FROM canary", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "REPLACE INTO canary SELECT * FROM canary", expected: per(dialect, plan("rewritten"), skipped("not explainable")) },
  { text: "TRUNCATE canary", expected: skipped("not explainable") },
  {
    text: "WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d",
    expected: per(dialect, failed("error 1064"), plan())
  },
  {
    text: "WITH u AS (UPDATE canary SET v = 'x' RETURNING *) SELECT * FROM u",
    expected: per(dialect, failed("error 1064"), plan())
  },
  {
    text: "WITH i AS (INSERT INTO audit (what) VALUES ('cte') RETURNING *) SELECT * FROM i",
    expected: per(dialect, failed("error 1064"), plan())
  },
  {
    text: "WITH d AS (DELETE FROM canary RETURNING *) INSERT INTO audit (what) SELECT v FROM d",
    expected: per(dialect, skipped("not explainable"), plan())
  },
  {
    text: "MERGE INTO canary c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE",
    expected: per(dialect, skipped("not explainable"), plan())
  },
  { text: "(DELETE FROM canary)", expected: per(dialect, skipped("not explainable"), failed("error 42601")) }
]

const lockingCases = (dialect: Dialect): ReadonlyArray<CanaryCase> => [
  { text: "SELECT * FROM canary FOR UPDATE", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "SELECT * FROM canary WHERE id = 1 FOR UPDATE NOWAIT", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "SELECT * FROM canary FOR UPDATE SKIP LOCKED", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "SELECT * FROM canary FOR SHARE", expected: per(dialect, plan("rewritten"), plan()) },
  { text: "SELECT * FROM canary LOCK IN SHARE MODE", expected: per(dialect, plan("rewritten"), failed("error 42601")) },
  {
    text: "SELECT * FROM (SELECT * FROM canary FOR UPDATE) d",
    expected: per(dialect, skipped("locking read"), plan())
  },
  { text: "SELECT * FROM canary FOR NO KEY UPDATE", expected: per(dialect, failed("error 1064"), plan()) },
  { text: "SELECT * FROM canary FOR KEY SHARE", expected: per(dialect, failed("error 1064"), plan()) }
]

const forbiddenCases = (dialect: Dialect): ReadonlyArray<CanaryCase> => [
  {
    text: "SELECT * FROM canary INTO OUTFILE '/tmp/slowq_canary.txt'",
    expected: per(dialect, skipped("forbidden"), skipped("select into"))
  },
  {
    text: "SELECT * INTO OUTFILE '/tmp/slowq_canary.txt' FROM canary",
    expected: per(dialect, skipped("forbidden"), skipped("select into"))
  },
  {
    text: "SELECT * FROM canary INTO DUMPFILE '/tmp/slowq_canary.bin'",
    expected: per(dialect, skipped("forbidden"), skipped("select into"))
  },
  { text: "SELECT v INTO @x FROM canary LIMIT 1", expected: skipped("select into") },
  { text: "SELECT * INTO newtable FROM canary", expected: skipped("select into") },
  { text: "SELECT LOAD_FILE('/etc/passwd')", expected: per(dialect, skipped("forbidden"), failed("error 42883")) },
  { text: "SELECT pg_read_file('/etc/passwd')", expected: per(dialect, failed("error 1305"), skipped("forbidden")) },
  {
    text: "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM canary') AS t(x int)",
    expected: per(dialect, failed("error 1064"), skipped("forbidden"))
  },
  {
    text: "SELECT dblink_exec('dbname=postgres', 'DROP TABLE canary')",
    expected: per(dialect, failed("error 1305"), skipped("forbidden"))
  },
  { text: "SELECT NEXTVAL(seq)", expected: skipped("forbidden") },
  { text: "SELECT nextval('seq')", expected: skipped("forbidden") },
  { text: "SELECT NEXT VALUE FOR seq", expected: per(dialect, skipped("forbidden"), failed("error 42601")) },
  { text: "SELECT setval('seq', 100)", expected: skipped("forbidden") },
  { text: "SELECT * FROM canary WHERE id = (SELECT nextval('seq'))", expected: skipped("forbidden") },
  { text: "SELECT SLEEP(5)", expected: per(dialect, skipped("forbidden"), failed("error 42883")) },
  { text: "SELECT pg_sleep(5)", expected: per(dialect, failed("error 1305"), skipped("forbidden")) },
  { text: "SELECT GET_LOCK('slowq', 10)", expected: per(dialect, skipped("forbidden"), failed("error 42883")) },
  { text: "SELECT pg_advisory_lock(1)", expected: per(dialect, failed("error 1305"), skipped("forbidden")) },
  {
    text: "SELECT BENCHMARK(100000000, MD5('x'))",
    expected: per(dialect, skipped("forbidden"), failed("error 42883"))
  },
  { text: "SELECT lo_export(1, '/tmp/slowq_canary')", expected: per(dialect, failed("error 1305"), skipped("forbidden")) },
  {
    text: "SELECT set_config('default_transaction_read_only', 'off', false)",
    expected: per(dialect, failed("error 1305"), skipped("forbidden"))
  }
]

const utilityCases: ReadonlyArray<string> = [
  "DROP TABLE canary",
  "DROP DATABASE test",
  "CREATE TABLE slowq_created (id int)",
  "CREATE INDEX slowq_idx ON canary (v)",
  "ALTER TABLE canary ADD COLUMN z int",
  "RENAME TABLE canary TO c2",
  "TRUNCATE TABLE canary",
  "GRANT ALL ON canary TO PUBLIC",
  "SET GLOBAL read_only = 1",
  "SET autocommit = 0",
  "CALL p()",
  "DO f_wipe()",
  "LOCK TABLES canary WRITE",
  "LOCK TABLE canary",
  "BEGIN",
  "COMMIT",
  "START TRANSACTION",
  "PREPARE s FROM 'DELETE FROM canary'",
  "EXECUTE s",
  "DEALLOCATE PREPARE s",
  "HANDLER canary OPEN",
  "KILL 1",
  "SHUTDOWN",
  "FLUSH TABLES",
  "VACUUM canary",
  "REINDEX TABLE canary",
  "CLUSTER canary",
  "LISTEN x",
  "NOTIFY x",
  "DISCARD ALL",
  "SHOW TABLES",
  "USE test",
  "CHECKPOINT",
  "COPY canary TO '/tmp/slowq_canary'",
  "LOAD DATA INFILE '/etc/passwd' INTO TABLE canary",
  "DECLARE c CURSOR FOR SELECT 1",
  "REFRESH MATERIALIZED VIEW v",
  "SET STATEMENT max_statement_time = 1 FOR DELETE FROM canary"
]

const truncatedCases: ReadonlyArray<string> = [
  "SELECT * FROM canary WHERE id IN (1, 2, 3",
  "SELECT * FROM canary WHERE id = 1",
  "DELETE FROM canary WHERE id = 1",
  "SELECT * FROM canary WHERE v = 'abc'"
]

/** The whole corpus for one dialect. */
export const canaryCorpus = (dialect: Dialect): ReadonlyArray<CanaryCase> => [
  ...functionCases(dialect),
  ...injectionCases(dialect),
  ...analyzeCases(),
  ...dmlCases(dialect),
  ...lockingCases(dialect),
  ...forbiddenCases(dialect),
  ...utilityCases.map((text) => ({
    text,
    // INTO anywhere but after INSERT/REPLACE/MERGE is refused before the statement type is looked at.
    expected: text.startsWith("LOAD DATA") ? skipped("select into") : skipped("not explainable")
  })),
  ...truncatedCases.map((text) => ({ text: `${text} /* truncated */`, expected: skipped("truncated"), truncated: true }))
]
