-- Steps of trails written by 0.1 (one `attempts` row each) move into
-- `requests.steps`, in the JSON every later trail has, and `attempts` goes. Its
-- `ON DELETE CASCADE` ran a subprogram, with an ephemeral table, for every trail
-- pruned: once the retention was reached, each request cost about 28k more
-- instructions (callgrind, 186.4k against 158.4k), for a table no new trail uses.
UPDATE requests
SET steps = (
    SELECT json_group_array(
        json_object(
            'i', candidate_index, 'p', provider, 'm', model, 'k', credential_id,
            'c', error_class, 's', http_status, 'a', action, 'r', reason,
            'd', duration_ms
        ) ORDER BY seq
    )
    FROM attempts
    WHERE attempts.request_id = requests.id
)
WHERE steps IS NULL;

DROP TABLE attempts;
