-- Per person and collection: the newest document Oura gave us, the last completed load
-- that read the collection and the days it read, and how far behind both are at the build.
-- One load run commits in chunks under one instant (`loaded_at`): its range is the union
-- of its chunks.
with documents as (

    select * from {{ ref('int_collection_documents_summarized') }}

),

load_records as (

    select * from {{ ref('int_load_records_completed') }}

),

runs as (

    select
        user_id,
        collection_name,
        loaded_at,
        min(start_date) as start_date,
        max(end_date) as end_date
    from load_records
    group by user_id, collection_name, loaded_at

),

last_runs as (

    select *
    from (
        select
            runs.*,
            row_number() over (partition by user_id, collection_name order by loaded_at desc) as recency
        from runs
    ) as ranked
    where recency = 1

),

loaded_spans as (

    select
        user_id,
        collection_name,
        min(start_date) as loaded_from_date,
        max(end_date) as loaded_through_date
    from load_records
    group by user_id, collection_name

),

collections as (

    select user_id, collection_name from documents
    union distinct
    select user_id, collection_name from loaded_spans

),

joined as (

    select
        collections.user_id,
        collections.collection_name,
        coalesce(documents.document_count, 0) as document_count,
        documents.newest_document_date,
        documents.newest_document_at,
        last_runs.loaded_at as last_loaded_at,
        last_runs.start_date as last_load_start_date,
        last_runs.end_date as last_load_end_date,
        loaded_spans.loaded_from_date,
        loaded_spans.loaded_through_date,
        {{ oura.now() }} as checked_at
    from collections
    left join documents
        on documents.user_id = collections.user_id and documents.collection_name = collections.collection_name
    left join last_runs
        on last_runs.user_id = collections.user_id and last_runs.collection_name = collections.collection_name
    left join loaded_spans
        on loaded_spans.user_id = collections.user_id and loaded_spans.collection_name = collections.collection_name

)

select
    joined.*,
    {{ oura.seconds_between('newest_document_at', 'checked_at') }} as document_lag_seconds,
    {{ oura.seconds_between('last_loaded_at', 'checked_at') }} as load_lag_seconds
from joined
