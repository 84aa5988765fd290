-- One row per tag code of a tag document (`tag.tags`, a JSON list of strings).

with tags as (

    select
        tag_id,
        user_id,
        tag_date,
        tagged_at,
        tagged_utc_offset,
        tag_text,
        tag_codes
    from {{ ref('stg_oura__tags') }}
    where tag_codes is not null

),

exploded as (

    {{ oura.explode_json_array(
        relation='tags',
        columns=['tag_id', 'user_id', 'tag_date', 'tagged_at', 'tagged_utc_offset', 'tag_text'],
        json_expr='tag_codes',
        path='$',
        element_alias='tag_code_element',
        index_alias='tag_position',
    ) }}

)

select
    tag_id,
    user_id,
    tag_date,
    tagged_at,
    tagged_utc_offset,
    tag_text,
    tag_position,
    {{ oura.json_element_text('tag_code_element') }} as tag_code
from exploded
