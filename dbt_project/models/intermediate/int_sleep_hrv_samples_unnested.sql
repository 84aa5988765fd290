-- One row per 5-minute HRV sample of a sleep period (`sleep.hrv`).
{{ oura.explode_samples(
    relation=ref('stg_oura__sleep_periods'),
    key_columns=['sleep_period_id', 'user_id'],
    samples_column='hrv_samples',
    value_column='hrv_ms',
) }}
