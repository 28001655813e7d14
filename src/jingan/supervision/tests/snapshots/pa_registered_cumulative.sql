-- pa_registered_cumulative: 累计注册用户数 (day, cumulative)
SELECT period_start, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  accounts AS (SELECT account_id, min(registered_at) AS registered_at, min(deregistered_at) AS deregistered_at FROM clean_pa_registrations GROUP BY account_id),
  events AS (SELECT CAST(registered_at AS DATE) AS day, 1 AS delta FROM accounts UNION ALL SELECT CAST(deregistered_at AS DATE), -1 FROM accounts WHERE deregistered_at IS NOT NULL),
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
