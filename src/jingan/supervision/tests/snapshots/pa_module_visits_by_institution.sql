-- pa_module_visits_by_institution: 机构模块访问人次 (day, count)
SELECT period_start, institution, module, value, numerator, denominator
FROM (
  WITH staff_sessions AS (
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
  SELECT period_start, institution_code AS institution, module,
         CAST(count(DISTINCT visit_id) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM visits
  WHERE institution_code IS NOT NULL
  GROUP BY period_start, institution_code, module
) AS indicator_rows
ORDER BY period_start, institution NULLS FIRST, module NULLS FIRST
