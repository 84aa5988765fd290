-- The loader's records of completed loads only: a record is written in the same dlt load
-- package as the data it describes, so it counts once dlt has marked that package loaded
-- (status 0). A crashed run leaves no completed record.
with progress as (

    select * from {{ ref('stg_oura__load_progress') }}

),

completed_loads as (

    select load_id, inserted_at from {{ ref('stg_oura__dlt_loads') }} where load_status = 0

)

select
    progress.user_id,
    progress.collection_name,
    progress.start_date,
    progress.end_date,
    progress.loaded_at,
    progress.load_id,
    completed_loads.inserted_at as committed_at
from progress
inner join completed_loads
    on completed_loads.load_id = progress.load_id
