{#- Incremental: a nightly build rewrites whole UTC days, only the days that received raw
    rows since the last build (any load, any user) plus the last `heart_rate_lookback_days`
    days. Rewriting whole days (delete+insert on DuckDB, insert_overwrite of the day's
    partition on BigQuery) also drops samples the loader removed; a person-day whose every
    sample was removed is deleted first (`delete_emptied_days`). -#}
{{ config(
    materialized='incremental',
    incremental_strategy=('insert_overwrite' if target.type == 'bigquery' else 'delete+insert'),
    unique_key=(none if target.type == 'bigquery' else 'measured_date'),
    partition_by=({'field': 'measured_date', 'data_type': 'date', 'granularity': 'day'} if target.type == 'bigquery' else none),
    cluster_by=(['user_id'] if target.type == 'bigquery' else none),
    on_schema_change='append_new_columns',
    pre_hook="{{ oura.delete_emptied_days('stg_oura__heart_rate_samples') }}",
) }}

with samples as (

    select
        user_id,
        measured_at,
        measured_utc_offset,
        {{ oura.utc_date('measured_at') }} as measured_date,
        heart_rate_source,
        heart_rate_bpm,
        load_id
    from {{ ref('stg_oura__heart_rate_samples') }}

)

{% if is_incremental() %}

, watermark as (

    select
        -- dlt load ids are "<unix seconds>.<fraction>": compare them as numbers, not text.
        coalesce(max(cast(load_id as {{ oura.type_double() }})), 0) as last_load_id,
        max(measured_date) as last_measured_date
    from {{ this }}

),

days_to_rebuild as (

    select samples.measured_date
    from samples
    cross join watermark
    where cast(samples.load_id as {{ oura.type_double() }}) > watermark.last_load_id
        or samples.measured_date >= {{ oura.add_days('watermark.last_measured_date', -var('heart_rate_lookback_days')) }}
    group by samples.measured_date

)

select samples.*
from samples
inner join days_to_rebuild
    on days_to_rebuild.measured_date = samples.measured_date

{% else %}

select * from samples

{% endif %}
