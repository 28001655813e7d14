-- pa_realname_by_age_group: 实名用户年龄结构 (period, cumulative)
SELECT period_start, age_group, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  first_approvals AS (SELECT account_id, decided_at AS approved_at, gender, birth_date FROM clean_pa_realname WHERE outcome = 'approved' AND decided_at IS NOT NULL QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY decided_at, application_id) = 1),
  verified AS (
    SELECT CAST(approved_at AS DATE) AS day, CASE WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 0 AND 6 THEN '0-6' WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 7 AND 17 THEN '7-17' WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 18 AND 44 THEN '18-44' WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 45 AND 59 THEN '45-59' WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 60 AND 79 THEN '60-79' WHEN (year(CAST(approved_at AS DATE)) - year(birth_date) - CASE WHEN strftime(CAST(approved_at AS DATE), '%m%d') < strftime(birth_date, '%m%d') THEN 1 ELSE 0 END) BETWEEN 80 AND 200 THEN '80+' ELSE 'unknown' END AS age_group
    FROM first_approvals WHERE CAST(approved_at AS DATE) <= DATE '2025-01-31'
  ),
  daily AS (SELECT day, age_group, count(*) AS n FROM verified GROUP BY ALL),
  keys AS (SELECT * FROM (VALUES ('0-6'), ('7-17'), ('18-44'), ('45-59'), ('60-79'), ('80+'), ('unknown')) AS k(age_group))
  SELECT calendar.period_start, keys.age_group,
         CAST(coalesce(sum(daily.n), 0) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar CROSS JOIN keys
  LEFT JOIN daily ON daily.age_group = keys.age_group AND daily.day <= calendar.period_start
  GROUP BY calendar.period_start, keys.age_group
) AS indicator_rows
ORDER BY period_start, age_group NULLS FIRST
