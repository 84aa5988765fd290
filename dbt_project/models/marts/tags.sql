-- Tags from both routes in one shape: enhanced tags (one row each; the tag type code, or
-- the custom name for custom tags) and the deprecated `tag` route (one row per code).

with enhanced as (

    select
        enhanced_tag_id as tag_document_id,
        0 as tag_position,
        user_id,
        'enhanced_tag' as tag_route,
        start_date as tag_date,
        started_at,
        started_utc_offset,
        ended_at,
        coalesce(custom_name, tag_type_code) as tag_code,
        custom_name is not null as is_custom,
        comment as tag_text
    from {{ ref('stg_oura__enhanced_tags') }}

),

classic as (

    select
        tag_id as tag_document_id,
        tag_position,
        user_id,
        'tag' as tag_route,
        tag_date,
        tagged_at as started_at,
        tagged_utc_offset as started_utc_offset,
        cast(null as {{ oura.type_instant() }}) as ended_at,
        tag_code,
        false as is_custom,
        tag_text
    from {{ ref('int_tags_unnested') }}

)

select * from enhanced
union all
select * from classic
