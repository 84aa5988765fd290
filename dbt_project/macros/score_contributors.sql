{#- Every score's contributors, as data: score type -> (staging model, date column,
    contributor names). Each name is a `contributor_<name>` column of that model. Adding a
    contributor Oura introduces is adding a name here (and the column in staging). -#}
{% macro score_contributor_catalog() %}
  {{ return({
      'sleep': {
          'model': 'stg_oura__daily_sleep_scores',
          'id': 'daily_sleep_id',
          'date': 'sleep_date',
          'score': 'sleep_score',
          'contributors': ['deep_sleep', 'efficiency', 'latency', 'rem_sleep', 'restfulness',
                           'timing', 'total_sleep'],
      },
      'readiness': {
          'model': 'stg_oura__daily_readiness_scores',
          'id': 'daily_readiness_id',
          'date': 'readiness_date',
          'score': 'readiness_score',
          'contributors': ['activity_balance', 'body_temperature', 'hrv_balance',
                           'previous_day_activity', 'previous_night', 'recovery_index',
                           'resting_heart_rate', 'sleep_balance', 'sleep_regularity'],
      },
      'activity': {
          'model': 'stg_oura__daily_activities',
          'id': 'daily_activity_id',
          'date': 'activity_date',
          'score': 'activity_score',
          'contributors': ['meet_daily_targets', 'move_every_hour', 'recovery_time',
                           'stay_active', 'training_frequency', 'training_volume'],
      },
      'resilience': {
          'model': 'stg_oura__daily_resilience_levels',
          'id': 'daily_resilience_id',
          'date': 'resilience_date',
          'score': none,
          'contributors': ['sleep_recovery', 'daytime_recovery', 'stress'],
      },
  }) }}
{% endmacro %}


{#- All contributor names of all scores (for accepted_values tests). -#}
{% macro score_contributor_names() %}
  {% set names = [] %}
  {% for score_type, spec in score_contributor_catalog().items() %}
    {% for name in spec.contributors %}
      {% do names.append(name) %}
    {% endfor %}
  {% endfor %}
  {{ return(names | unique | list) }}
{% endmacro %}
