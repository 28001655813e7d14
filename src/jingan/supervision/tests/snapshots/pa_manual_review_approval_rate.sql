-- pa_manual_review_approval_rate: 人工审核通过率 (day, ratio)
SELECT period_start, value, numerator, denominator
FROM (
  WITH decided AS (
    SELECT CAST(decided_at AS DATE) AS period_start, application_id, outcome
    FROM clean_pa_realname
    WHERE method = 'manual' AND outcome IN ('approved', 'rejected') AND decided_at IS NOT NULL
      AND CAST(decided_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
  )
  SELECT period_start,
         100.0 * count(DISTINCT application_id) FILTER (WHERE outcome = 'approved')
           / count(DISTINCT application_id) AS value,
         CAST(count(DISTINCT application_id) FILTER (WHERE outcome = 'approved') AS DOUBLE)
           AS numerator,
         CAST(count(DISTINCT application_id) AS DOUBLE) AS denominator
  FROM decided
  GROUP BY period_start
) AS indicator_rows
ORDER BY period_start
