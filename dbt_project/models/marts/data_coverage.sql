{#- Why a day has no main sleep (api-reference §12): the ring was off that night, it was
    worn but Oura holds no sleep, or the ring has sent nothing since the night ended (it
    may still arrive). The evidence is what the ring sent around the night: heart-rate
    samples (a worn night is `rest` samples about every 5 minutes), the 5-minute activity
    classes (0 non-wear, 1 rest), and the newest sample of all. Windows are local wall-clock
    hours of the wake-up day D (negative: the evening of D - 1), as whole 15-minute buckets
    of epoch seconds: the night is [night_starts_hour, night_ends_hour), and a night is
    over by night_over_hour. -#}
{%- set night_starts_hour = var('coverage_night_starts_hour', -3) -%}
{%- set night_ends_hour = var('coverage_night_ends_hour', 10) -%}
{%- set night_over_hour = var('coverage_night_over_hour', 14) -%}
{%- set worn_rest_samples = var('coverage_worn_night_rest_samples', 12) -%}
{%- set worn_rest_share = var('coverage_worn_night_rest_share', 0.25) -%}
{#- The night in `class_5_min` positions (activity days run 04:00 to 04:00): the previous
    activity day's tail from night start, and the day's own head up to night end. -#}
{%- set tail_first = (20 + night_starts_hour) * 12 + 1 -%}
{%- set tail_length = (4 - night_starts_hour) * 12 -%}
{%- set head_length = (night_ends_hour - 4) * 12 -%}

with collection_days as (

    select * from {{ ref('int_user_day_collections_pivoted') }}

),

sleep_periods as (

    select * from {{ ref('int_sleep_periods_ranked') }}

),

main_sleeps as (

    select user_id, sleep_date, sleep_type as main_sleep_type, bedtime_end_utc_offset
    from sleep_periods
    where is_main_sleep

),

activity as (
    {{ oura.one_per_day(ref('stg_oura__daily_activities'), 'activity_date', 'daily_activity_id') }}
),

heart_rate_buckets as (

    select * from {{ ref('int_heart_rate_samples_bucketed') }}

),

load_records as (

    select * from {{ ref('int_load_records_completed') }}

),

-- The ring's newest report: its newest heart-rate or battery sample; without either
-- (scopes not granted), the end of its newest sleep period.
ring_contacts as (

    select user_id, max(contact_at) as ring_last_contact_at
    from (
        select user_id, last_sample_at as contact_at from heart_rate_buckets
        union all
        select user_id, measured_at as contact_at from {{ ref('stg_oura__ring_battery_levels') }}
    ) as samples
    group by user_id

),

sleep_ends as (

    select user_id, max(bedtime_end_at) as last_sleep_end_at
    from sleep_periods
    group by user_id

),

known_offsets as (

    select
        collection_days.user_id,
        collection_days.covered_date,
        coalesce(activity.day_starts_utc_offset, main_sleeps.bedtime_end_utc_offset) as known_utc_offset
    from collection_days
    left join activity
        on activity.user_id = collection_days.user_id and activity.activity_date = collection_days.covered_date
    left join main_sleeps
        on main_sleeps.user_id = collection_days.user_id and main_sleeps.sleep_date = collection_days.covered_date

),

latest_offsets as (

    select user_id, known_utc_offset as latest_utc_offset
    from (
        select
            user_id,
            known_utc_offset,
            row_number() over (partition by user_id order by covered_date desc) as recency
        from known_offsets
        where known_utc_offset is not null
    ) as ranked
    where recency = 1

),

-- A completed load read its days up to its `end_date` at instant `loaded_at`: the days
-- are covered up to the earlier of the two (in the person's latest local time: the UTC
-- date of the instant shifted by the offset, which the local BigQuery API runs too).
loaded_through as (

    select
        load_records.user_id,
        max(
            least(
                load_records.end_date,
                {{ oura.utc_date(oura.add_seconds('load_records.loaded_at', oura.utc_offset_seconds("coalesce(latest_offsets.latest_utc_offset, '+00:00')"))) }}
            )
        ) as loaded_through_date
    from load_records
    left join latest_offsets
        on latest_offsets.user_id = load_records.user_id
    group by load_records.user_id

),

-- From the person's first day with a document to the later of the last such day and the
-- last day a completed load covered.
bounds as (

    select
        documented.user_id,
        documented.first_date,
        greatest(
            documented.last_date,
            coalesce(loaded_through.loaded_through_date, documented.last_date)
        ) as last_date
    from (
        select user_id, min(covered_date) as first_date, max(covered_date) as last_date
        from collection_days
        group by user_id
    ) as documented
    left join loaded_through
        on loaded_through.user_id = documented.user_id

),

spine as (

    {{ oura.explode_index_series(
        relation='bounds',
        columns=['user_id', 'first_date'],
        count_expr=dbt.datediff('first_date', 'last_date', 'day') ~ ' + 1',
        index_alias='day_index',
    ) }}

),

days as (

    select
        spine.user_id,
        {{ oura.add_days('spine.first_date', 'spine.day_index') }} as coverage_date
    from spine

),

joined as (

    select
        days.user_id,
        days.coverage_date,
        coalesce(collection_days.has_activity, false) as has_activity,
        coalesce(collection_days.has_readiness, false) as has_readiness,
        coalesce(collection_days.has_sleep_score, false) as has_sleep_score,
        coalesce(collection_days.has_spo2, false) as has_spo2,
        coalesce(collection_days.has_stress, false) as has_stress,
        coalesce(collection_days.has_resilience, false) as has_resilience,
        coalesce(collection_days.has_cardiovascular_age, false) as has_cardiovascular_age,
        coalesce(collection_days.has_sleep_time_recommendation, false) as has_sleep_time_recommendation,
        coalesce(collection_days.sleep_period_count, 0) as sleep_period_count,
        main_sleeps.sleep_date is not null as has_main_sleep,
        main_sleeps.main_sleep_type,
        activity.non_wear_seconds,
        activity.activity_class_5_min,
        concat(
            coalesce(substr(previous_activity.activity_class_5_min, {{ tail_first }}, {{ tail_length }}), ''),
            coalesce(substr(activity.activity_class_5_min, 1, {{ head_length }}), '')
        ) as night_classes,
        coalesce(activity.day_starts_utc_offset, main_sleeps.bedtime_end_utc_offset) as known_utc_offset
    from days
    left join collection_days
        on collection_days.user_id = days.user_id and collection_days.covered_date = days.coverage_date
    left join main_sleeps
        on main_sleeps.user_id = days.user_id and main_sleeps.sleep_date = days.coverage_date
    left join activity
        on activity.user_id = days.user_id and activity.activity_date = days.coverage_date
    left join activity as previous_activity
        on previous_activity.user_id = days.user_id
        and previous_activity.activity_date = {{ oura.add_days('days.coverage_date', -1) }}

),

-- A day without a document takes the offset of the nearest earlier day (else later day).
offsets as (

    select
        joined.*,
        coalesce(
            known_utc_offset,
            last_value(known_utc_offset ignore nulls) over (
                partition by user_id order by coverage_date
                rows between unbounded preceding and current row
            ),
            first_value(known_utc_offset ignore nulls) over (
                partition by user_id order by coverage_date
                rows between current row and unbounded following
            ),
            '+00:00'
        ) as utc_offset
    from joined

),

numbered as (

    select
        offsets.*,
        {{ dbt.datediff("cast('1970-01-01' as date)", 'coverage_date', 'day') }} as epoch_day,
        {{ oura.utc_offset_seconds('utc_offset') }} as utc_offset_seconds
    from offsets

),

bounded as (

    select
        numbered.*,
        epoch_day * 86400 - utc_offset_seconds as day_start_epoch
    from numbered

),

framed as (

    select
        bounded.*,
        coalesce(
            lead(day_start_epoch) over (partition by user_id order by coverage_date),
            day_start_epoch + 86400
        ) as next_day_start_epoch
    from bounded

),

-- A bucket of UTC day U can belong to the local day or night of U - 1, U or U + 1.
candidate_buckets as (

    select heart_rate_buckets.*, heart_rate_buckets.utc_day_number + shifts.day_shift as candidate_day
    from heart_rate_buckets
    cross join (
        select -1 as day_shift union all select 0 as day_shift union all select 1 as day_shift
    ) as shifts

),

heart_rate_days as (

    select
        framed.user_id,
        framed.coverage_date,
        sum(case when buckets.bucket_number * 900 >= framed.day_start_epoch
                  and buckets.bucket_number * 900 < framed.next_day_start_epoch
                 then buckets.sample_count else 0 end) as heart_rate_sample_count,
        sum(case when buckets.bucket_number * 900 >= framed.day_start_epoch + {{ night_starts_hour * 3600 }}
                  and buckets.bucket_number * 900 < framed.day_start_epoch + {{ night_ends_hour * 3600 }}
                 then buckets.sample_count else 0 end) as night_heart_rate_sample_count,
        sum(case when buckets.bucket_number * 900 >= framed.day_start_epoch + {{ night_starts_hour * 3600 }}
                  and buckets.bucket_number * 900 < framed.day_start_epoch + {{ night_ends_hour * 3600 }}
                 then buckets.rest_sample_count else 0 end) as night_rest_heart_rate_sample_count
    from framed
    inner join candidate_buckets as buckets
        on buckets.user_id = framed.user_id and buckets.candidate_day = framed.epoch_day
    group by framed.user_id, framed.coverage_date

),

evidence as (

    select
        framed.*,
        {{ oura.add_seconds("cast(framed.coverage_date as " ~ oura.type_instant() ~ ")", "0 - framed.utc_offset_seconds") }} as day_starts_at,
        coalesce(heart_rate_days.heart_rate_sample_count, 0) as heart_rate_sample_count,
        coalesce(heart_rate_days.night_heart_rate_sample_count, 0) as night_heart_rate_sample_count,
        coalesce(heart_rate_days.night_rest_heart_rate_sample_count, 0) as night_rest_heart_rate_sample_count,
        case when {{ dbt.length('framed.activity_class_5_min') }} > 0 then
            cast({{ dbt.length('framed.activity_class_5_min') }}
                 - {{ dbt.length("replace(framed.activity_class_5_min, '0', '')") }} as {{ oura.type_double() }})
            / {{ dbt.length('framed.activity_class_5_min') }}
        end as non_wear_share,
        case when {{ dbt.length('framed.night_classes') }} > 0 then
            cast({{ dbt.length('framed.night_classes') }}
                 - {{ dbt.length("replace(framed.night_classes, '0', '')") }} as {{ oura.type_double() }})
            / {{ dbt.length('framed.night_classes') }}
        end as night_non_wear_share,
        case when {{ dbt.length('framed.night_classes') }} > 0 then
            cast({{ dbt.length('framed.night_classes') }}
                 - {{ dbt.length("replace(framed.night_classes, '1', '')") }} as {{ oura.type_double() }})
            / {{ dbt.length('framed.night_classes') }}
        end as night_rest_share,
        coalesce(ring_contacts.ring_last_contact_at, sleep_ends.last_sleep_end_at) as ring_last_contact_at
    from framed
    left join heart_rate_days
        on heart_rate_days.user_id = framed.user_id and heart_rate_days.coverage_date = framed.coverage_date
    left join ring_contacts
        on ring_contacts.user_id = framed.user_id
    left join sleep_ends
        on sleep_ends.user_id = framed.user_id

),

classified as (

    select
        evidence.*,
        {{ oura.add_seconds('day_starts_at', 'cast(' ~ (night_starts_hour * 3600) ~ ' as ' ~ dbt.type_bigint() ~ ')') }} as night_starts_at,
        {{ oura.add_seconds('day_starts_at', 'cast(' ~ (night_ends_hour * 3600) ~ ' as ' ~ dbt.type_bigint() ~ ')') }} as night_ends_at,
        {{ oura.add_seconds('day_starts_at', 'cast(' ~ (night_over_hour * 3600) ~ ' as ' ~ dbt.type_bigint() ~ ')') }} as night_over_at,
        -- Worn at night: resting heart-rate samples through the night; without any heart
        -- rate around the night (no heart-rate scope, say), rest in the activity classes.
        coalesce(
            night_rest_heart_rate_sample_count >= {{ worn_rest_samples }}
            or (night_heart_rate_sample_count = 0 and night_rest_share >= {{ worn_rest_share }}),
            false
        ) as is_worn_at_night
    from evidence

)

select
    user_id,
    coverage_date,
    case
        when has_main_sleep then 'present'
        when ring_last_contact_at is null or ring_last_contact_at < night_over_at then 'not_synced_yet'
        when is_worn_at_night then 'no_record'
        else 'not_worn'
    end as sleep_status,
    has_main_sleep,
    main_sleep_type,
    sleep_period_count,
    is_worn_at_night,
    night_starts_at,
    night_ends_at,
    night_over_at,
    night_heart_rate_sample_count,
    night_rest_heart_rate_sample_count,
    night_rest_share,
    night_non_wear_share,
    ring_last_contact_at,
    heart_rate_sample_count,
    non_wear_seconds,
    non_wear_share,
    has_activity,
    has_readiness,
    has_sleep_score,
    has_spo2,
    has_stress,
    has_resilience,
    has_cardiovascular_age,
    has_sleep_time_recommendation,
    utc_offset,
    day_starts_at
from classified
