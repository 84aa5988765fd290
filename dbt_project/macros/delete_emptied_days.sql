{#- A pre-hook of the incremental `heart_rate_samples`: delete the person-days that have no
    raw sample any more. When every sample of an old day is deleted at Oura and the loader
    re-reads that day, no raw row of it gets a new load id, so the build would not rewrite
    it and the mart would keep the deleted samples. Nothing on a full build. -#}
{% macro delete_emptied_days(staging_model) %}
{% if is_incremental() %}
delete from {{ this }} as kept
where not exists (
    select 1
    from {{ ref(staging_model) }} as staged
    where staged.user_id = kept.user_id
        and {{ oura.utc_date('staged.measured_at') }} = kept.measured_date
)
{% endif %}
{% endmacro %}
