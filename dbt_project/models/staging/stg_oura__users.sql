with raw_rows as (

    select * from {{ source('oura', 'personal_info') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(id as {{ dbt.type_string() }}) as personal_info_id,
        cast(age as {{ dbt.type_bigint() }}) as age_years,
        cast(weight as {{ oura.type_double() }}) as weight_kg,
        cast(height as {{ oura.type_double() }}) as height_meters,
        cast(biological_sex as {{ dbt.type_string() }}) as biological_sex,
        cast(email as {{ dbt.type_string() }}) as email

    from raw_rows
    where _oura_deleted is not true

)

select * from renamed
