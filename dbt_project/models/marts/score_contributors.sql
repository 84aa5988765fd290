select
    user_id,
    score_date,
    score_type,
    contributor,
    contributor_value,
    score,
    document_id
from {{ ref('int_score_contributors_unpivoted') }}
