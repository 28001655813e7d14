-- pa_realname_by_gender: 实名用户性别结构 (period, cumulative)
SELECT period_start, gender, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  first_approvals AS (SELECT account_id, decided_at AS approved_at, gender, birth_date FROM clean_pa_realname WHERE outcome = 'approved' AND decided_at IS NOT NULL QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY decided_at, application_id) = 1),
  verified AS (
    SELECT CAST(approved_at AS DATE) AS day, coalesce(gender, '0') AS gender
    FROM first_approvals WHERE CAST(approved_at AS DATE) <= DATE '2025-01-31'
  ),
  daily AS (SELECT day, gender, count(*) AS n FROM verified GROUP BY ALL),
  keys AS (SELECT * FROM (VALUES ('1'), ('2'), ('0'), ('9')) AS k(gender))
  SELECT calendar.period_start, keys.gender,
         CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar CROSS JOIN keys
  LEFT JOIN daily ON daily.gender = keys.gender AND daily.day <= calendar.period_start
  GROUP BY calendar.period_start, keys.gender
) AS indicator_rows
ORDER BY period_start, gender NULLS FIRST
