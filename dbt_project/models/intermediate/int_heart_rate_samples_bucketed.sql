-- Heart-rate samples counted per user and 15-minute UTC bucket. Every UTC offset is a
-- whole number of 15 minutes, so local days and nights are whole buckets: `data_coverage`
-- counts a day's samples from about 100 buckets instead of thousands of samples.
-- Samples labelled `rest` or `sleep` are what a worn ring reports through a night.
select
    user_id,
    cast(floor({{ oura.epoch_seconds('measured_at') }} / 900) as {{ dbt.type_bigint() }}) as bucket_number,
    cast(floor({{ oura.epoch_seconds('measured_at') }} / 86400) as {{ dbt.type_bigint() }}) as utc_day_number,
    count(*) as sample_count,
    sum(case when heart_rate_source in ('rest', 'sleep') then 1 else 0 end) as rest_sample_count,
    max(measured_at) as last_sample_at
from {{ ref('stg_oura__heart_rate_samples') }}
group by 1, 2, 3
