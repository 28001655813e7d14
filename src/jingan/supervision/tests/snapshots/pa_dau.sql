-- pa_dau: 日活跃用户数（DAU） (day, distinct)
SELECT period_start, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  events AS (
    SELECT CAST(started_at AS DATE) AS period_start, account_id AS counted
    FROM clean_pa_sessions
    WHERE (NOT is_staff AND page_views >= 1) AND CAST(started_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
  )
  SELECT calendar.period_start,
         CAST(count(DISTINCT events.counted) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar LEFT JOIN events USING (period_start)
  GROUP BY calendar.period_start
) AS indicator_rows
ORDER BY period_start
