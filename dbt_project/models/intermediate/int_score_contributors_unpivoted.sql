-- Every `contributors` object of the sleep, readiness, activity and resilience documents
-- in long form: one row per user, day, score type and contributor (nulls kept).
{%- set catalog = oura.score_contributor_catalog() %}

{%- for score_type, spec in catalog.items() %}
{%- for contributor in spec.contributors %}

select
    user_id,
    {{ spec.date }} as score_date,
    '{{ score_type }}' as score_type,
    '{{ contributor }}' as contributor,
    cast(contributor_{{ contributor }} as {{ oura.type_double() }}) as contributor_value,
    {% if spec.score %}cast({{ spec.score }} as {{ oura.type_double() }}){% else %}cast(null as {{ oura.type_double() }}){% endif %} as score,
    {{ spec.id }} as document_id
from {{ ref(spec.model) }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
