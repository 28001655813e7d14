-- ih_consultations_accepted: 互联网诊疗问诊人次 (day, count)
SELECT period_start, institution, mode, value, numerator, denominator
FROM (
  WITH accepted AS (
    SELECT CAST(accepted_at AS DATE) AS period_start, institution_code, mode, consultation_id
    FROM clean_consultations
    WHERE accepted_at IS NOT NULL AND CAST(accepted_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
  )
  SELECT period_start, institution_code AS institution, mode,
         CAST(count(DISTINCT consultation_id) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM accepted
  GROUP BY GROUPING SETS (
    (period_start, institution_code, mode), (period_start, institution_code),
    (period_start, mode), (period_start)
  )
) AS indicator_rows
ORDER BY period_start, institution NULLS FIRST, mode NULLS FIRST
