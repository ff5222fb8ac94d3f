-- Run by mysql:8.4's entrypoint in MYSQL_DATABASE (the lab database) on the first start of an empty volume.
-- The slow log goes to the CSV table mysql.slow_log with long_query_time=0 (the server's flags in
-- docker-compose.yml), so at the workload's rate it grows by about a million rows a day, and slowq's source scans it
-- whole on every poll (the table has no index). An hourly TRUNCATE keeps it small; slowq reads it every 30 s,
-- so it loses nothing while it runs. TRUNCATE is the one change MySQL allows on a log table in use.
CREATE EVENT IF NOT EXISTS truncate_slow_log
  ON SCHEDULE EVERY 1 HOUR
  DO TRUNCATE TABLE mysql.slow_log;
