-- appt_bookings: 预约量 (day, count)
SELECT period_start, institution, value, numerator, denominator
FROM (
  SELECT CAST(created_at AS DATE) AS period_start, institution_code AS institution,
         CAST(count(DISTINCT appointment_id) AS DOUBLE) AS value,
         CAST(NULL AS DOUBLE) AS numerator,
         CAST(NULL AS DOUBLE) AS denominator
  FROM clean_appointments
  WHERE status <> 'cancelled' AND CAST(created_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-01-31'
  GROUP BY GROUPING SETS ((CAST(created_at AS DATE), institution_code), (CAST(created_at AS DATE)))
) AS indicator_rows
ORDER BY period_start, institution NULLS FIRST
