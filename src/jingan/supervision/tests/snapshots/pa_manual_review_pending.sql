-- pa_manual_review_pending: 人工审核待处理量 (day, cumulative)
SELECT period_start, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  applications AS (SELECT DISTINCT application_id, CAST(submitted_at AS DATE) AS submitted, CASE WHEN outcome IN ('approved', 'rejected') THEN CAST(decided_at AS DATE) END AS decided FROM clean_pa_realname WHERE method = 'manual'),
  events AS (SELECT submitted AS day, 1 AS delta FROM applications UNION ALL SELECT decided, -1 FROM applications WHERE decided IS NOT NULL),
  daily AS (
    SELECT day AS day, sum(delta) AS n FROM events WHERE day <= DATE '2025-01-31' GROUP BY 1
  )
  SELECT calendar.period_start,
         CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar LEFT JOIN daily ON daily.day <= calendar.period_start
  GROUP BY calendar.period_start
) AS indicator_rows
ORDER BY period_start
