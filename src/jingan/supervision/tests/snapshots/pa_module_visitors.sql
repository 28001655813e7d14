-- pa_module_visitors: 模块访问人数 (day, distinct)
SELECT period_start, module, value, numerator, denominator
FROM (
  WITH calendar AS (SELECT CAST(range AS DATE) AS period_start FROM range(CAST(DATE '2025-01-01' AS TIMESTAMP), CAST(DATE '2025-01-31' AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY)),
  modules AS (SELECT * FROM (VALUES ('health_record'), ('outpatient_booking'), ('inpatient_service'), ('cloud_accompaniment'), ('internet_care'), ('drug_lookup'), ('renewal'), ('proxy_medication'), ('vaccination'), ('physical_exam')) AS m(module)),
  staff_sessions AS (
    SELECT session_id FROM clean_pa_sessions
    WHERE is_staff AND CAST(started_at AS DATE) BETWEEN DATE '2025-01-01' - 1 AND DATE '2025-01-31'
  ),
  visits AS (
    SELECT CAST(visited_at AS DATE) AS period_start, module, account_id, visit_id,
           institution_code
    FROM clean_pa_module_visits AS v
    WHERE CAST(visited_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
      AND NOT EXISTS (SELECT 1 FROM staff_sessions s WHERE s.session_id = v.session_id)
  )
  SELECT calendar.period_start, modules.module,
         CAST(count(DISTINCT visits.account_id) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM calendar CROSS JOIN modules
  LEFT JOIN visits ON visits.period_start = calendar.period_start
                  AND visits.module = modules.module
  GROUP BY GROUPING SETS ((calendar.period_start, modules.module), (calendar.period_start))
) AS indicator_rows
ORDER BY period_start, module NULLS FIRST
