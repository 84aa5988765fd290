{#- The rows of `relation` with one row per user and `date_column`: Oura has one document
    per day for daily collections, but a revised document can arrive under a new id before
    the old one is deleted; keep the greatest `order_by` (deterministic). -#}
{% macro one_per_day(relation, date_column, order_by) %}
    select *
    from (
        select
            documents.*,
            row_number() over (
                partition by user_id, {{ date_column }}
                order by {{ order_by }} desc
            ) as row_in_day
        from {{ relation }} as documents
    ) as numbered
    where row_in_day = 1
{% endmacro %}
