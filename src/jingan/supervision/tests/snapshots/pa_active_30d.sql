-- pa_active_30d: 近30日活跃用户数 (day, distinct)
SELECT period_start, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  active AS (
    SELECT DISTINCT account_id, CAST(started_at AS DATE) AS day FROM clean_pa_sessions
    WHERE NOT is_staff AND page_views >= 1 AND CAST(started_at AS DATE) BETWEEN DATE '2025-01-01' - 29 AND DATE '2025-01-31'
  ),
  spans AS (
    SELECT day AS opens,
           least(day + 30, coalesce(lead(day) OVER (PARTITION BY account_id ORDER BY day),
                                    day + 30)) AS closes
    FROM active
  ),
  events AS (
    SELECT opens AS day, 1 AS delta FROM spans
    UNION ALL SELECT closes, -1 FROM spans
  ),
  daily AS (SELECT day, sum(delta) AS n FROM events GROUP BY day)
  SELECT calendar.period_start,
         CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar LEFT JOIN daily ON daily.day <= calendar.period_start
  GROUP BY calendar.period_start
) AS indicator_rows
ORDER BY period_start
