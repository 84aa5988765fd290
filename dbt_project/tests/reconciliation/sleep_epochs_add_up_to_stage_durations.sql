-- Oura's stage durations against its hypnograms, for every sleep period and each string it
-- has (int_sleep_phases_exploded: `sleep_phase_30_sec` and `sleep_phase_5_min`). Returns
-- one row per stage (or time in bed) that disagrees by more than the string allows. These
-- are Oura's numbers, not our bugs: severity warn, and `oura-elt transform` prints each
-- row, naming the night. (Our bugs, a missing night or an epoch count that is not the
-- string's length, are errors in sleep_epochs_match_hypnograms.)
--
-- Oura stages a period in 30-second epochs and counts the durations from them;
-- `sleep_phase_5_min` shows, for each ten 30-second epochs, the stage most of them are in.
--  * Both strings cover the time in bed, the last epoch cut at bedtime end:
--    0 <= epochs x epoch_seconds - time_in_bed < epoch_seconds.
--  * 30-second epochs x 30 s are a stage's duration, give or take the cut last epoch and
--    one epoch more: allowed gap = cut + 30 s.
--  * A 5-minute epoch moves a stage change that falls inside it to its nearer edge, at most
--    half an epoch (150 s) away, so each change to or from a stage in the 5-minute string
--    may shift its duration by 150 s; a stretch shorter than half an epoch (a brief
--    awakening) never shows at all: allowed gap = 150 s x the stage's changes + 300 s +
--    the cut. Oura's two 2024 nights are 313 s and 302 s off on awake (allowed 1,603 s and
--    2,432 s) and at most 210 s off on the other stages.
{{ config(severity='warn') }}
{%- set stages = {
    'deep': 'deep_sleep_seconds',
    'light': 'light_sleep_seconds',
    'rem': 'rem_sleep_seconds',
    'awake': 'awake_seconds',
} %}

with epochs as (

    select
        sleep_period_id,
        epoch_seconds,
        sleep_phase,
        lag(sleep_phase) over (
            partition by sleep_period_id, epoch_seconds order by epoch_index
        ) as previous_phase
    from {{ ref('int_sleep_phases_exploded') }}

),

hypnograms as (

    select
        sleep_period_id,
        epoch_seconds,
        count(*) as epochs,
        {%- for stage in stages %}
        sum(case when sleep_phase = '{{ stage }}' then 1 else 0 end) as {{ stage }}_epochs,
        sum(
            case when previous_phase != sleep_phase and '{{ stage }}' in (sleep_phase, previous_phase)
            then 1 else 0 end
        ) as {{ stage }}_changes{{ ',' if not loop.last }}
        {%- endfor %}
    from epochs
    group by sleep_period_id, epoch_seconds

),

periods as (

    select * from {{ ref('sleep_periods') }}

),

compared as (
    {%- for stage, column in stages.items() %}

    select
        periods.user_id,
        periods.sleep_date,
        periods.sleep_period_id,
        periods.sleep_type,
        hypnograms.epoch_seconds,
        '{{ stage }}' as compared,
        hypnograms.{{ stage }}_epochs * hypnograms.epoch_seconds as epochs_seconds,
        periods.{{ column }} as oura_seconds,
        hypnograms.epochs * hypnograms.epoch_seconds - periods.time_in_bed_seconds as cut_seconds,
        hypnograms.{{ stage }}_changes as changes
    from hypnograms
    inner join periods on periods.sleep_period_id = hypnograms.sleep_period_id
    union all
    {%- endfor %}

    select
        periods.user_id,
        periods.sleep_date,
        periods.sleep_period_id,
        periods.sleep_type,
        hypnograms.epoch_seconds,
        'time_in_bed' as compared,
        hypnograms.epochs * hypnograms.epoch_seconds as epochs_seconds,
        periods.time_in_bed_seconds as oura_seconds,
        hypnograms.epochs * hypnograms.epoch_seconds - periods.time_in_bed_seconds as cut_seconds,
        null as changes
    from hypnograms
    inner join periods on periods.sleep_period_id = hypnograms.sleep_period_id

),

checked as (

    select
        compared.*,
        epochs_seconds - oura_seconds as gap_seconds,
        case
            when compared = 'time_in_bed' then epoch_seconds
            when epoch_seconds = 30 then greatest(cut_seconds, 0) + 30
            else greatest(cut_seconds, 0) + 300 + 150 * changes
        end as allowed_gap_seconds
    from compared

)

select
    user_id,
    sleep_date,
    sleep_period_id,
    sleep_type,
    epoch_seconds,
    compared,
    epochs_seconds,
    oura_seconds,
    gap_seconds,
    allowed_gap_seconds
from checked
where (compared = 'time_in_bed' and (gap_seconds < 0 or gap_seconds >= allowed_gap_seconds))
    or (compared != 'time_in_bed' and abs(gap_seconds) > allowed_gap_seconds)
