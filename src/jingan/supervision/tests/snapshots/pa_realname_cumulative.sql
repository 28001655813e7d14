-- pa_realname_cumulative: 累计实名用户数 (day, cumulative)
SELECT period_start, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  first_approvals AS (SELECT account_id, decided_at AS approved_at, gender, birth_date FROM clean_pa_realname WHERE outcome = 'approved' AND decided_at IS NOT NULL QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY decided_at, application_id) = 1),
  events AS (SELECT CAST(approved_at AS DATE) AS day FROM first_approvals),
  daily AS (
    SELECT day AS day, sum(1) AS n FROM events WHERE day <= DATE '2025-01-31' GROUP BY 1
  )
  SELECT calendar.period_start,
         CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar LEFT JOIN daily ON daily.day <= calendar.period_start
  GROUP BY calendar.period_start
) AS indicator_rows
ORDER BY period_start
