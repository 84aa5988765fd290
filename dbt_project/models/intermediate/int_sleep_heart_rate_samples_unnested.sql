-- One row per 5-minute heart-rate sample of a sleep period (`sleep.heart_rate`).
{{ oura.explode_samples(
    relation=ref('stg_oura__sleep_periods'),
    key_columns=['sleep_period_id', 'user_id'],
    samples_column='heart_rate_samples',
    value_column='heart_rate_bpm',
) }}
